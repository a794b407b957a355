package llm

import (
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
)

// startSSE sends the headers of an event stream.
func startSSE(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	http.NewResponseController(w).Flush()
}

// writeSSE writes each data as one event and flushes after each.
func writeSSE(w http.ResponseWriter, data ...string) {
	rc := http.NewResponseController(w)
	for _, d := range data {
		w.Write([]byte("data: " + d + "\n\n"))
		rc.Flush()
	}
}

// waitGone blocks until the client is gone. It reads the request body
// first: the server notices a closed connection only once it has.
func waitGone(r *http.Request) {
	io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

// newClient returns a Client for cfg or ends the test.
func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// wordCounter counts whitespace-separated words: a stand-in tokenizer.
type wordCounter struct{}

func (wordCounter) Count(s string) int { return len(strings.Fields(s)) }

// counterFunc is a TokenCounter from a function.
type counterFunc func(string) int

func (f counterFunc) Count(s string) int { return f(s) }

// checkOK fails the test if res is not a success.
func checkOK(t *testing.T, res *Result) {
	t.Helper()
	if !res.OK || res.ErrorClass != "" || res.Error != "" {
		t.Fatalf("got OK %v, class %q, error %q; want success", res.OK, res.ErrorClass, res.Error)
	}
}

// near reports whether a and b differ by at most tol.
func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }
