package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/llmbench/llmbench/bpe"
	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/refserver/engine"
	"github.com/llmbench/llmbench/refserver/gpt2"
	"github.com/llmbench/llmbench/refserver/server"
)

// HTTPResult is one concurrency level of the HTTP benchmark: the same
// closed-loop streaming workload through the engine directly and through
// refserver's HTTP API on loopback.
type HTTPResult struct {
	Clients     int     `json:"clients"`
	Requests    int     `json:"requests"`
	EngineTokS  float64 `json:"engine_tok_s"`
	HTTPTokS    float64 `json:"http_tok_s"`
	OverheadPct float64 `json:"http_overhead_pct"` // 100 × (1 − http / engine) of tok/s, median over the pairs of runs
	OverheadMin float64 `json:"http_overhead_min_pct"`
	OverheadMax float64 `json:"http_overhead_max_pct"`
	// TTFTAddedPct and TPOTAddedPct are what HTTP adds to the engine's
	// TTFT p50 and TPOT p50: 100 × (http / engine − 1) within each pair of
	// runs, the median over the pairs.
	TTFTAddedPct   float64 `json:"http_ttft_added_pct"`
	TPOTAddedPct   float64 `json:"http_tpot_added_pct"`
	Pairs          int     `json:"pairs"`
	EngineTTFTP50  float64 `json:"engine_ttft_p50_s"`
	TTFTP50        float64 `json:"ttft_p50_s"`
	TTFTP95        float64 `json:"ttft_p95_s"`
	TPOTP50        float64 `json:"tpot_p50_s"`
	EngineTPOTP50  float64 `json:"engine_tpot_p50_s"`
	PromptTokens   int     `json:"prompt_tokens"`
	OutputTokens   int     `json:"output_tokens"`
	RequestsFailed int     `json:"requests_failed"`
}

// sample is one request as a client saw it.
type sampleReq struct {
	ttft, e2e time.Duration
	tokens    int
}

// benchHTTP runs, for each concurrency, rounds requests per client of
// prompt tokens and out output tokens, first through the engine directly,
// then over HTTP (POST /generate/stream on a loopback listener), in pairs of
// runs back to back, alternating which side goes first. Throughput is each
// side's best run, latencies pool every request of a side; what HTTP adds
// (to tok/s, TTFT p50 and TPOT p50) is the median over the pairs of the
// per-pair ratio, since the two runs of a pair see the same machine.
func benchHTTP(ctx context.Context, m *gpt2.Model, tok *bpe.Tokenizer, mk engineMaker, clients []int, rounds, pairs, prompt, out int, progress func(string)) ([]HTTPResult, error) {
	var results []HTTPResult
	for _, c := range clients {
		r := HTTPResult{Clients: c, Requests: c * rounds, PromptTokens: prompt, OutputTokens: out, Pairs: pairs}
		var best [2]float64
		var pooled [2][]sampleReq // every request of every run, per side
		var overheads, ttftAdded, tpotAdded []float64
		for try := 0; try < pairs; try++ {
			var pair [2]float64
			var lat [2][3]float64
			for k := 0; k < 2; k++ {
				side := k ^ try&1 // ABBA: alternate which side runs first, so neither gains from the order
				progress(fmt.Sprintf("%d clients, %s, run %d of %d", c, [...]string{"engine", "HTTP"}[side], try+1, pairs))
				samples, toks, err := loadRun(ctx, m, tok, mk, c, rounds, prompt, out, side == 1)
				if err != nil {
					return nil, err
				}
				pair[side] = toks
				lat[side][0], _, lat[side][1] = quantiles(samples)
				best[side] = max(best[side], toks)
				pooled[side] = append(pooled[side], samples...)
			}
			overheads = append(overheads, 100*(1-pair[1]/pair[0]))
			ttftAdded = append(ttftAdded, 100*(lat[1][0]/lat[0][0]-1))
			tpotAdded = append(tpotAdded, 100*(lat[1][1]/lat[0][1]-1))
		}
		r.EngineTokS, r.HTTPTokS = best[0], best[1]
		r.OverheadPct = stats.Median(overheads)
		r.OverheadMin, r.OverheadMax = slices.Min(overheads), slices.Max(overheads)
		r.TTFTAddedPct, r.TPOTAddedPct = stats.Median(ttftAdded), stats.Median(tpotAdded)
		r.EngineTTFTP50, _, r.EngineTPOTP50 = quantiles(pooled[0])
		r.TTFTP50, r.TTFTP95, r.TPOTP50 = quantiles(pooled[1])
		results = append(results, r)
	}
	return results, nil
}

func quantiles(s []sampleReq) (ttft50, ttft95, tpot50 float64) {
	var ttft, tpot []float64
	for _, x := range s {
		ttft = append(ttft, x.ttft.Seconds())
		if x.tokens > 1 {
			tpot = append(tpot, (x.e2e-x.ttft).Seconds()/float64(x.tokens-1))
		}
	}
	slices.Sort(ttft)
	slices.Sort(tpot)
	return stats.Percentile(ttft, 50), stats.Percentile(ttft, 95), stats.Percentile(tpot, 50)
}

// engineMaker makes a fresh engine for one run of the HTTP benchmark: on
// the CPU a new one each time; on a GPU over the one backend opened for the
// whole benchmark.
type engineMaker func() (*engine.Engine, error)

// loadRun starts a fresh engine (and, overHTTP, a server on a loopback
// port), runs clients closed loops of rounds requests, and returns every
// request's sample and the output tokens per second over the run.
func loadRun(ctx context.Context, m *gpt2.Model, tok *bpe.Tokenizer, mk engineMaker, clients, rounds, prompt, out int, overHTTP bool) ([]sampleReq, float64, error) {
	e, err := mk()
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	engDone := make(chan error, 1)
	go func() { engDone <- e.Run(ctx) }()
	defer func() { cancel(); <-engDone }()

	var do func(ctx context.Context, text string) (sampleReq, error)
	if overHTTP {
		bi := e.Backend().Info()
		srv, err := server.New(server.Config{}, m, tok, e, server.Info{Backend: bi.Backend, Device: bi.Device}, noop.NewTracerProvider(), prometheus.NewRegistry())
		if err != nil {
			return nil, 0, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, 0, err
		}
		hs := &http.Server{Handler: srv.Handler()}
		go hs.Serve(ln)
		defer hs.Close()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
		url := "http://" + ln.Addr().String() + "/generate/stream"
		do = func(ctx context.Context, text string) (sampleReq, error) {
			return streamOnce(ctx, client, url, text, out)
		}
	} else {
		do = func(ctx context.Context, text string) (sampleReq, error) { return engineOnce(ctx, e, tok, text, out) }
	}

	// Prompts of exactly prompt tokens: words that are one token each.
	rng := rand.New(rand.NewPCG(5, uint64(clients)))
	words := []string{" the", " of", " and", " to", " in", " is", " that", " for", " it", " with", " as", " was", " on"}
	texts := make([]string, clients*rounds)
	for i := range texts {
		var b strings.Builder
		for range prompt {
			b.WriteString(words[rng.IntN(len(words))])
		}
		texts[i] = b.String()
	}
	var mu sync.Mutex
	var samples []sampleReq
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				s, err := do(ctx, texts[c*rounds+r])
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					samples = append(samples, s)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if firstErr != nil {
		return nil, 0, firstErr
	}
	total := 0
	for _, s := range samples {
		total += s.tokens
	}
	return samples, float64(total) / wall.Seconds(), nil
}

func engineOnce(ctx context.Context, e *engine.Engine, tok *bpe.Tokenizer, text string, out int) (sampleReq, error) {
	start := time.Now()
	ids := tok.Encode(text)
	ch, err := e.Submit(ctx, engine.Request{Prompt: ids, MaxTokens: out, IgnoreEOS: true})
	if err != nil {
		return sampleReq{}, err
	}
	var s sampleReq
	for ev := range ch {
		if ev.Text != "" && s.ttft == 0 {
			s.ttft = time.Since(start)
		}
		if ev.Token >= 0 {
			s.tokens++
		}
		if ev.Done && ev.Err != nil {
			return s, ev.Err
		}
	}
	s.e2e = time.Since(start)
	return s, nil
}

// streamOnce sends one streaming /generate/stream request and times it as
// a client does: TTFT to the first event carrying text.
func streamOnce(ctx context.Context, c *http.Client, url, text string, out int) (sampleReq, error) {
	body, _ := json.Marshal(map[string]any{"prompt": text, "max_tokens": out, "do_sample": false, "ignore_eos": true})
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return sampleReq{}, err
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return sampleReq{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return sampleReq{}, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	var s sampleReq
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadBytes('\n')
		if d, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("data: ")); ok {
			if string(d) == "[DONE]" {
				s.e2e = time.Since(start)
				return s, nil
			}
			var ev struct {
				Text     string `json:"text"`
				TokenIDs []int  `json:"token_ids"`
				Error    any    `json:"error"`
			}
			if json.Unmarshal(d, &ev) == nil {
				if ev.Error != nil {
					return s, fmt.Errorf("stream error: %s", d)
				}
				if ev.Text != "" && s.ttft == 0 {
					s.ttft = time.Since(start)
				}
				s.tokens += len(ev.TokenIDs)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return s, errors.New("stream ended without [DONE]")
			}
			return s, err
		}
	}
}

func reportHTTP(w io.Writer, rs []HTTPResult) {
	fmt.Fprintf(w, "\nHTTP: POST /generate/stream on loopback vs the engine directly (%d prompt + %d output tokens, closed loop)\n",
		rs[0].PromptTokens, rs[0].OutputTokens)
	fmt.Fprintf(w, "(tok/s: best run of each side; overhead, +TTFT, +TPOT: what HTTP adds, the median over %d back-to-back pairs of runs;\n latencies: every request of every run of a side)\n", rs[0].Pairs)
	fmt.Fprintf(w, "%7s %8s %12s %12s %22s %10s %10s %10s %11s %11s %10s %10s\n", "clients", "requests", "engine tok/s", "HTTP tok/s", "overhead [min, max]",
		"TTFT p50", "TTFT p95", "TPOT p50", "engine TTFT", "engine TPOT", "+TTFT p50", "+TPOT p50")
	for _, r := range rs {
		fmt.Fprintf(w, "%7d %8d %12.1f %12.1f %6.1f%% [%5.1f, %5.1f] %9.0fms %9.0fms %9.1fms %10.0fms %10.1fms %9.1f%% %9.1f%%\n", r.Clients, r.Requests, r.EngineTokS, r.HTTPTokS,
			r.OverheadPct, r.OverheadMin, r.OverheadMax, r.TTFTP50*1e3, r.TTFTP95*1e3, r.TPOTP50*1e3, r.EngineTTFTP50*1e3, r.EngineTPOTP50*1e3, r.TTFTAddedPct, r.TPOTAddedPct)
	}
	for _, r := range rs {
		if r.Clients == 8 {
			mark := func(ok bool) string {
				if ok {
					return "met"
				}
				return "MISSED"
			}
			fmt.Fprintf(w, "8 clients: %.1f tok/s (target ≥ 150: %s), TTFT p50 %.2f s (target ≤ 1 s: %s), HTTP adds %.1f%% to tok/s, %.1f%% to TTFT p50, %.1f%% to TPOT p50 (target ≤ 2%% each: %s)\n",
				r.HTTPTokS, mark(r.HTTPTokS >= 150), r.TTFTP50, mark(r.TTFTP50 <= 1), r.OverheadPct, r.TTFTAddedPct, r.TPOTAddedPct,
				mark(r.OverheadPct <= 2 && r.TTFTAddedPct <= 2 && r.TPOTAddedPct <= 2))
		}
	}
}
