package selfbench

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary be selfbench's child: run with the
// arguments `fake-llm ...`, it is `llmbench-dev fake-llm`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "fake-llm" {
		var cfg FakeConfig
		fs := flag.NewFlagSet("fake-llm", flag.ExitOnError)
		cfg.RegisterFlags(fs)
		fs.Parse(os.Args[2:])
		if err := ServeFake(context.Background(), cfg, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const testTrace = "0123456789abcdef0123456789abcdef"

// stream posts one request and returns the data lines of its answer.
func stream(t *testing.T, url, body, trace string) []string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/generate/stream", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if trace != "" {
		req.Header.Set("traceparent", "00-"+trace+"-0123456789abcdef-01")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got status %d, want 200", resp.StatusCode)
	}
	var data []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
		}
	}
	return data
}

func TestFakeServerStreamsOnScheduleAndRecordsFlushes(t *testing.T) {
	cfg := FakeConfig{Tokens: 4, Interval: 10 * time.Millisecond, TTFT: 15 * time.Millisecond}
	fs := NewFakeServer(cfg)
	srv := httptest.NewServer(fs)
	defer srv.Close()

	tests := []struct {
		name   string
		body   string
		trace  string
		tokens int
	}{
		{"all tokens", `{"prompt":"x"}`, testTrace, 4},
		{"max_tokens caps the answer", `{"prompt":"x","max_tokens":2}`, strings.Repeat("ab", 16), 2},
		{"no traceparent", `{"prompt":"x","max_tokens":3}`, "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := stream(t, srv.URL, tt.body, tt.trace)
			if got, want := len(data), tt.tokens+2; got != want {
				t.Fatalf("got %d events, want %d: %q", got, want, data)
			}
			for i, d := range data[:tt.tokens] {
				if !strings.Contains(d, `"text":" t"`) {
					t.Errorf("event %d: got %s, want a text event", i, d)
				}
			}
			if want := fmt.Sprintf(`"completion_tokens":%d`, tt.tokens); !strings.Contains(data[tt.tokens], want) {
				t.Errorf("final event: got %s, want it to contain %s", data[tt.tokens], want)
			}
			if data[tt.tokens+1] != "[DONE]" {
				t.Errorf("last event: got %s, want [DONE]", data[tt.tokens+1])
			}

			tm := fs.Timings(true)
			if tm.Served != 1 || tm.MaxInFlight != 1 || len(tm.Streams) != 1 {
				t.Fatalf("timings: got served %d, max in flight %d, %d streams; want 1, 1, 1", tm.Served, tm.MaxInFlight, len(tm.Streams))
			}
			st := tm.Streams[0]
			if st.TraceID != tt.trace {
				t.Errorf("got trace id %q, want %q", st.TraceID, tt.trace)
			}
			if len(st.FlushNS) != tt.tokens || len(st.LateNS) != tt.tokens {
				t.Fatalf("got %d flush times and %d lateness values, want %d", len(st.FlushNS), len(st.LateNS), tt.tokens)
			}
			for i, f := range st.FlushNS {
				// No event may go out before its schedule; how late it
				// is depends on the machine, so only the bound is checked.
				due := cfg.TTFT + time.Duration(i)*cfg.Interval
				if time.Duration(f) < due {
					t.Errorf("event %d flushed at %v, before its schedule %v", i, time.Duration(f), due)
				}
				if st.LateNS[i] < 0 {
					t.Errorf("event %d: got lateness %d ns, want >= 0", i, st.LateNS[i])
				}
			}
		})
	}
	if tm := fs.Timings(false); tm.Served != 0 || len(tm.Streams) != 0 {
		t.Errorf("after reset: got served %d and %d streams, want 0 and 0", tm.Served, len(tm.Streams))
	}
}

func TestFakeServerRejectsBadRequests(t *testing.T) {
	srv := httptest.NewServer(NewFakeServer(FakeConfig{}))
	defer srv.Close()
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"bad JSON", http.MethodPost, "/generate/stream", "{", http.StatusBadRequest},
		{"GET stream", http.MethodGet, "/generate/stream", "", http.StatusMethodNotAllowed},
		{"unknown path", http.MethodGet, "/nope", "", http.StatusNotFound},
		{"health", http.MethodGet, "/health", "", http.StatusOK},
		{"timings", http.MethodGet, "/timings", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("got status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestTraceID(t *testing.T) {
	tests := []struct{ name, header, want string }{
		{"w3c", "00-" + testTrace + "-0123456789abcdef-01", testTrace},
		{"empty", "", ""},
		{"short id", "00-abc-0123456789abcdef-01", ""},
		{"too few parts", "00-" + testTrace, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := traceID(tt.header); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestChildFakeServer starts the fake as selfbench does, as a child
// process (this test binary, see TestMain), at its own priority and
// through nice(1), and stops it by closing its stdin.
func TestChildFakeServer(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, nice := range []int{0, 10} {
		t.Run(fmt.Sprintf("nice %d", nice), func(t *testing.T) {
			f, err := startChild(t.Context(), exe, nice, FakeConfig{Addr: "127.0.0.1:0", Tokens: 3, Interval: time.Millisecond, TTFT: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer f.stop()
			if got := len(stream(t, f.url, `{"prompt":"x"}`, testTrace)); got != 5 {
				t.Errorf("got %d events, want 5", got)
			}
			tm, err := f.timings(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(tm.Streams) != 1 || tm.Streams[0].TraceID != testTrace || len(tm.Streams[0].FlushNS) != 3 || len(tm.Streams[0].WriteNS) != 3 {
				t.Fatalf("timings: got %+v, want one stream of trace %s with 3 writes and flushes", tm.Streams, testTrace)
			}
			for i, w := range tm.Streams[0].WriteNS {
				if f := tm.Streams[0].FlushNS[i]; w > f {
					t.Errorf("event %d: write began %d ns after its flush returned (%d ns)", i, w, f)
				}
			}
			if _, err := f.stop(); err != nil {
				t.Errorf("stop: got %v, want a clean exit when stdin closes", err)
			}
		})
	}
}

// TestFakeServerKeepsTheConnection: the fake streams on the bare
// connection, and the client's next requests on it are still served.
func TestFakeServerKeepsTheConnection(t *testing.T) {
	srv := httptest.NewServer(NewFakeServer(FakeConfig{Tokens: 3, Interval: time.Millisecond, TTFT: time.Millisecond}))
	defer srv.Close()
	tr := &http.Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	tests := []struct {
		name, method, path, body string
		want                     int
		events                   int // data lines of a stream
	}{
		{"first stream", http.MethodPost, "/generate/stream", `{"prompt":"x"}`, http.StatusOK, 5},
		{"second stream", http.MethodPost, "/generate/stream", `{"max_tokens":2}`, http.StatusOK, 4},
		{"bad JSON", http.MethodPost, "/generate/stream", "{", http.StatusBadRequest, 0},
		{"stream after an error", http.MethodPost, "/generate/stream", `{}`, http.StatusOK, 5},
		{"health", http.MethodGet, "/health", "", http.StatusOK, 0},
		{"GET stream", http.MethodGet, "/generate/stream", "", http.StatusMethodNotAllowed, 0},
		{"unknown path", http.MethodGet, "/nope", "", http.StatusNotFound, 0},
		{"timings", http.MethodGet, "/timings", "", http.StatusOK, 0},
	}
	for i, tt := range tests {
		var reused bool
		ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { reused = ci.Reused }})
		req, _ := http.NewRequestWithContext(ctx, tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tt.want {
			t.Fatalf("%s: got status %d (%v), want %d", tt.name, resp.StatusCode, err, tt.want)
		}
		if got := strings.Count(string(body), "data: "); tt.events > 0 && got != tt.events {
			t.Errorf("%s: got %d events, want %d: %q", tt.name, got, tt.events, body)
		}
		if i > 0 && !reused {
			t.Errorf("%s: the client dialed a new connection; want the first one kept", tt.name)
		}
	}
}
