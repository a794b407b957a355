package loadgen

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/loadgen/metrics"
	"github.com/llmbench/llmbench/runfmt"
)

// TestLLMSummaryErrorClasses: the summary counts the failed requests by
// error class, the most first, each with its first error, and the
// end-of-run text prints them under the LLM line. Requests the run's stop
// cut short are counted apart.
func TestLLMSummaryErrorClasses(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	logRequests(t, dir, start, []runfmt.Request{
		{OK: true, OutputTokens: 4},
		{ErrorClass: runfmt.ErrorHTTP, Error: "HTTP 503: overloaded"},
		{ErrorClass: runfmt.ErrorConnect, Error: "dial tcp 127.0.0.1:1: connect: connection refused"},
		{OK: true, OutputTokens: 4},
		{ErrorClass: runfmt.ErrorConnect, Error: "dial tcp 127.0.0.1:1: connect: connection reset"},
		{Error: "something else"},
		{ErrorClass: runfmt.ErrorCanceled, Error: "read event stream: interrupt signal received"},
	})
	s, err := LLMSummary(dir, start, start.Add(10*time.Second), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []runfmt.ErrorCount{
		{Class: runfmt.ErrorConnect, Count: 2, First: "dial tcp 127.0.0.1:1: connect: connection refused"},
		{Class: runfmt.ErrorHTTP, Count: 1, First: "HTTP 503: overloaded"},
		{Class: "unclassified", Count: 1, First: "something else"},
	}
	// The request the run's stop cut short is counted apart: the server
	// did not fail it.
	if s.Requests != 6 || s.Errors != 4 || s.Canceled != 1 || s.ErrorRate != 4.0/6 || !slices.Equal(s.ErrorClasses, want) {
		t.Errorf("requests %d, errors %d (rate %g), canceled %d, classes %+v; want 6, 4 (4/6), 1, %+v",
			s.Requests, s.Errors, s.ErrorRate, s.Canceled, s.ErrorClasses, want)
	}
	var b bytes.Buffer
	metrics.WriteLLMText(&b, s)
	if !strings.Contains(b.String(), "errors: connect 2, the first: dial tcp 127.0.0.1:1: connect: connection refused\n") ||
		!strings.Contains(b.String(), "cut short by the run's stop: 1 requests") {
		t.Errorf("text:\n%s", b.String())
	}
}

// TestLLMSummaryTokenCounts: the summary compares the server's usage with
// the client's count only where both exist, sums both, and the end-of-run
// text says by how much they differ in all, in two lines.
func TestLLMSummaryTokenCounts(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 12, 8, 8, 0, 0, 0, time.UTC)
	logRequests(t, dir, start, []runfmt.Request{
		{OK: true, TokenSource: "usage", OutputTokens: 50, ClientOutputTokens: 50},
		{OK: true, TokenSource: "usage", OutputTokens: 50, ClientOutputTokens: 48},
		{OK: true, TokenSource: "usage", OutputTokens: 100, ClientOutputTokens: 99},
		{OK: true, TokenSource: "usage", OutputTokens: 7},                            // no client count: not compared
		{OK: true, TokenSource: "tokenizer", OutputTokens: 9, ClientOutputTokens: 9}, // no usage: not compared
	})
	s, err := LLMSummary(dir, start, start.Add(10*time.Second), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.TokenMismatches != 2 || s.TokensCompared != 3 || s.UsageTokens != 200 || s.ClientTokens != 197 {
		t.Errorf("mismatches %d of %d, usage %d, client %d; want 2 of 3, 200, 197", s.TokenMismatches, s.TokensCompared, s.UsageTokens, s.ClientTokens)
	}
	var b bytes.Buffer
	metrics.WriteLLMText(&b, s)
	want := "     token counts: in 2 of 3 requests the server's usage (which the token figures use) and the client's GPT-2 count of the text differ, -1.5 % in all;\n" +
		"                   text re-encodes to other tokens now and then (often with synthetic weights' random tokens): a few percent is no fault, 10 % or more usually means another tokenizer\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("text:\n%s\nwant it to hold:\n%s", b.String(), want)
	}
}

// logRequests writes reqs to dir's requests.jsonl, a second apart from start.
func logRequests(t *testing.T, dir string, start time.Time, reqs []runfmt.Request) {
	t.Helper()
	log, err := runfmt.CreateRequestLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range reqs {
		r.Started, r.Sent = start.Add(time.Duration(i)*time.Second), start.Add(time.Duration(i)*time.Second)
		if err := log.Append(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
}
