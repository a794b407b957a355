package server

import (
	"net/http"
	"time"
)

// generateRequest is the original report's request body, with top_k,
// top_p, seed and stop added.
type generateRequest struct {
	Prompt      *string    `json:"prompt"`
	MaxTokens   *int       `json:"max_tokens"`  // default 50
	Temperature *float64   `json:"temperature"` // default 0.7
	DoSample    *bool      `json:"do_sample"`   // default true; false is greedy
	TopK        int        `json:"top_k"`
	TopP        *float64   `json:"top_p"`
	Seed        *int64     `json:"seed"`
	Stop        stringList `json:"stop"`
	IgnoreEOS   bool       `json:"ignore_eos"` // generate max_tokens even past end-of-text (benchmarks)
}

// Defaults of /generate, as the original report's service had them.
const (
	generateMaxTokens   = 50
	generateTemperature = 0.7
)

type generateResponse struct {
	Text         string  `json:"text"`
	TokenIDs     []int   `json:"token_ids"`
	Model        string  `json:"model"`
	FinishReason string  `json:"finish_reason"`
	Usage        usage   `json:"usage"`
	Timings      timings `json:"timings"`
}

type streamPiece struct {
	Text     string `json:"text"`
	TokenIDs []int  `json:"token_ids"`
}

type streamFinal struct {
	Done         bool    `json:"done"`
	FinishReason string  `json:"finish_reason"`
	Usage        usage   `json:"usage"`
	Timings      timings `json:"timings"`
}

func (s *Server) handleGenerate(stream bool) http.HandlerFunc {
	route := "generate"
	if stream {
		route = "generate_stream"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		j := &job{route: route, received: time.Now()}
		var req generateRequest
		if e := decodeJSON(r, s.cfg.MaxBodyBytes, s.cfg.BodyTimeout, &req); e != nil {
			s.fail(w, j, e)
			return
		}
		if req.Prompt == nil {
			s.fail(w, j, badRequest("prompt", "prompt is missing"))
			return
		}
		if *req.Prompt == "" {
			s.fail(w, j, badRequest("prompt", "prompt is empty"))
			return
		}
		j.text, j.ignoreEOS = *req.Prompt, req.IgnoreEOS
		sm := sampling{temperature: generateTemperature, topK: req.TopK, topP: req.TopP, seed: req.Seed}
		if req.Temperature != nil {
			sm.temperature = *req.Temperature
		}
		sm.greedy = req.DoSample != nil && !*req.DoSample
		if e := j.check(req.MaxTokens, generateMaxTokens, sm, req.Stop); e != nil {
			s.fail(w, j, e)
			return
		}
		if !stream {
			res, e := s.run(r.Context(), j, nil)
			if e != nil {
				s.fail(w, j, e)
				return
			}
			writeJSON(w, http.StatusOK, generateResponse{Text: res.text, TokenIDs: res.ids, Model: s.cfg.ModelName,
				FinishReason: res.finish, Usage: usageOf(res.stats), Timings: j.timings(res.stats)})
			s.metrics.request(route, http.StatusOK, "")
			return
		}
		sse := newSSE(w)
		res, e := s.run(r.Context(), j, func(text string, ids []int) error {
			return sse.data(streamPiece{Text: text, TokenIDs: ids})
		})
		if e != nil {
			s.fail(w, j, e, sse)
			return
		}
		sse.data(streamFinal{Done: true, FinishReason: res.finish, Usage: usageOf(res.stats), Timings: j.timings(res.stats)})
		sse.done()
		s.metrics.request(route, http.StatusOK, "")
	}
}

// fail answers an error and counts it. Once a stream has started, the
// error goes into the stream as an event.
func (s *Server) fail(w http.ResponseWriter, j *job, e *apiError, stream ...*sseWriter) {
	s.metrics.request(j.route, e.Status, e.kind)
	switch {
	case e.Status == 499: // the client is gone: nobody to answer
	case len(stream) > 0 && stream[0].started:
		stream[0].fail(e)
	default:
		writeError(w, e)
	}
}
