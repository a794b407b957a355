package runfmt

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func TestImplausible(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name string
		r    Request
		want string
	}{
		{"plausible", Request{TTFTMS: f(12), E2EMS: f(340), CloseMS: 341, GapsMS: []float64{1, 2}}, ""},
		{"huge TTFT", Request{TTFTMS: f(1e308)}, "ttft_ms = 1e+308"},
		{"negative e2e", Request{E2EMS: f(-5)}, "e2e_ms = -5"},
		{"NaN close", Request{CloseMS: math.NaN()}, "close_ms = NaN"},
		{"just past the bound", Request{ServerTotalMS: f(MaxPlausibleMS + 1)}, "server_total_ms = 1.000000001e+09"},
		{"a bad gap", Request{GapsMS: []float64{1, math.Inf(1)}}, "gaps_ms[1] = +Inf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Implausible(); got != tt.want {
				t.Errorf("Implausible() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDecodeRequestsLines: each line is a request or an error naming its
// line; a line over the bound is skipped without being kept, and the lines
// after it still read.
func TestDecodeRequestsLines(t *testing.T) {
	long := `{"seq":2,"error":"` + strings.Repeat("x", 300) + `"}`
	tests := []struct {
		name, in string
		want     []string // "seq N" or the error's text
	}{
		{"two lines", "{\"seq\":1}\n{\"seq\":2}\n", []string{"seq 1", "seq 2"}},
		{"blank line", "{\"seq\":1}\n\n{\"seq\":3}\n", []string{"seq 1", "seq 3"}},
		{"no final newline", "{\"seq\":1}\n{\"seq\":2}", []string{"seq 1", "seq 2"}},
		{"cut short", "{\"seq\":1}\n{\"seq\":", []string{"seq 1", "requests.jsonl line 2: the JSON ends early (a brace or bracket left open, or the file cut short)"}},
		{"malformed", "{\"seq\":1}\nnot json\n{\"seq\":3}\n", []string{"seq 1", "requests.jsonl line 2: invalid character 'o' in literal null (expecting 'u')", "seq 3"}},
		{"too long", "{\"seq\":1}\n" + long + "\n{\"seq\":3}\n", []string{"seq 1", "requests.jsonl line 2: 321 bytes, over the 200-byte bound on a request's line: skipped", "seq 3"}},
		{"too long at the end", "{\"seq\":1}\n" + long, []string{"seq 1", "requests.jsonl line 2: 320 bytes, over the 200-byte bound on a request's line: skipped"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			// A bound of 200 bytes, and a reader smaller than the long line,
			// so that it arrives in several pieces.
			for r, err := range decodeRequests(iotest.HalfReader(strings.NewReader(tt.in)), 200) {
				if err != nil {
					got = append(got, err.Error())
				} else {
					got = append(got, fmt.Sprintf("seq %d", r.Seq))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestReadRunCutShort: a run.json cut short, or with a syntax error, says
// so and where.
func TestReadRunCutShort(t *testing.T) {
	for body, want := range map[string]string{
		`{"format": 1, "id": "x",`:         "run.json: the JSON ends early",
		"{\"format\": 1,\n  \"id\" \"x\"}": "run.json: line 2 column 8: invalid character",
		"":                                 "run.json: no JSON value",
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, RunFile), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadRun(dir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("run.json %q: %v, want an error containing %q", body, err, want)
		}
	}
}

// TestReadMissing: a file that is not there, or not a file, is named once,
// with what is wrong with it, and a missing one is still fs.ErrNotExist.
func TestReadMissing(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "absent")
	asDir := filepath.Join(dir, "folder")
	if err := os.MkdirAll(filepath.Join(asDir, RunFile), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir, want string
		notExist  bool
	}{
		{notDir, "read " + filepath.Join(notDir, RunFile) + ": no such file or directory", true},
		{asDir, "read " + filepath.Join(asDir, RunFile) + ": not a regular file (d---------)", false},
	} {
		_, err := ReadRun(tc.dir)
		if err == nil || err.Error() != tc.want {
			t.Errorf("ReadRun(%s): %v, want %q", tc.dir, err, tc.want)
		}
		if errors.Is(err, fs.ErrNotExist) != tc.notExist {
			t.Errorf("ReadRun(%s): errors.Is(err, fs.ErrNotExist) = %v", tc.dir, !tc.notExist)
		}
	}
	for _, err := range Requests(notDir) {
		if want := "read " + filepath.Join(notDir, RequestsFile) + ": no such file or directory"; err == nil || err.Error() != want {
			t.Errorf("Requests: %v, want %q", err, want)
		}
	}
}

// TestTokenCountNote: each state of the comparison has its own words,
// and a summary written before the counts were kept still reads.
func TestTokenCountNote(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    LLMSummary
		want string
	}{
		{"nothing compared", LLMSummary{}, "not compared: no request had both the server's usage and a client count"},
		{"an old summary", LLMSummary{TokenMismatches: 4}, "4 requests where the server's usage differs from the client's GPT-2 count"},
		{"all agree", LLMSummary{TokensCompared: 9, UsageTokens: 90, ClientTokens: 90}, "the server's usage and the client's GPT-2 count agree in all 9 requests"},
		{"another tokenizer", LLMSummary{TokenMismatches: 9, TokensCompared: 9, UsageTokens: 100, ClientTokens: 131},
			"in 9 of 9 requests the server's usage (which the token figures use) and the client's GPT-2 count of the text differ, +31.0 % in all;\n" +
				"text re-encodes to other tokens now and then (often with synthetic weights' random tokens): a few percent is no fault, 10 % or more usually means another tokenizer"},
	} {
		if got := tc.s.TokenCountNote(); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}
