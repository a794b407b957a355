package server

import (
	"testing"
)

// FuzzDecodeRequests feeds arbitrary bodies to the request decoders of
// every route and to the validation after them: no input may panic, and an
// accepted body must leave a job that is valid or a clear error.
func FuzzDecodeRequests(f *testing.F) {
	for _, seed := range []string{
		`{"prompt": "Hello", "max_tokens": 5, "temperature": 0.7, "do_sample": true, "top_k": 40, "top_p": 0.9, "seed": 1, "stop": ["\n"]}`,
		`{"prompt": [15496, 995], "stream": true, "stream_options": {"include_usage": true}}`,
		`{"prompt": ["one"], "n": 1, "stop": "x"}`,
		`{"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 3}`,
		`{"prompt": 5}`, `[]`, `{`, `null`, `{"stop": [1]}`, `{"top_p": -1, "max_tokens": -5}`,
		`{"PROMPT": "hi", "Max_Tokens": 3}`, `{"prompt": "hi", "stream": "yes", "logprobs": 3, "echo": true, "best_of": 2}`,
		`{"prompt": "hi", "max_tokens": 9223372036854775807}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var g generateRequest
		if e := decodeBody(body, &g); e == nil {
			j := &job{}
			sm := sampling{temperature: 0.7, topK: g.TopK, topP: g.TopP, seed: g.Seed}
			if g.Temperature != nil {
				sm.temperature = *g.Temperature
			}
			if e := j.check(g.MaxTokens, 50, sm, g.Stop); e == nil {
				if j.maxTokens <= 0 || j.params.Validate() != nil {
					t.Fatalf("accepted an invalid job: %+v", j)
				}
			} else if e.Status != 400 || e.Message == "" {
				t.Fatalf("validation error %+v: want a 400 with a message", e)
			}
		} else if e.Message == "" {
			t.Fatalf("decode error without a message: %+v", e)
		}
		var c completionRequest
		if e := decodeBody(body, &c); e == nil {
			j := &job{}
			c.job(j, 16, nil)
		}
		var ch chatRequest
		if e := decodeBody(body, &ch); e == nil {
			chatTemplate(ch.Messages)
		}
	})
}
