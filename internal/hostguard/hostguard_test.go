package hostguard

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	loop := New("127.0.0.1:8000", nil)
	named := New("127.0.0.1:8000", []string{"refserver.lab"})
	exposed := New("0.0.0.0:8000", nil)
	exposedNamed := New("10.0.0.5:8000", []string{"llm.internal"})
	tests := []struct {
		name         string
		g            *Guard
		method, host string
		origin       string
		refused      string // a substring of the reason; "" when allowed
	}{
		{"loopback IP", loop, "POST", "127.0.0.1:8000", "", ""},
		{"localhost", loop, "POST", "localhost:8000", "", ""},
		{"IPv6 loopback", loop, "GET", "[::1]:8000", "", ""},
		{"a rebinding name", loop, "GET", "evil.example:8000", "", "does not name this server"},
		{"an added name", named, "GET", "refserver.lab:8000", "", ""},
		{"a private address not added", loop, "GET", "192.168.1.9:8000", "", "does not name this server"},
		{"a page posting from elsewhere", loop, "POST", "127.0.0.1:8000", "https://evil.example", "from the web page at https://evil.example"},
		{"a page of the same origin", loop, "POST", "127.0.0.1:8000", "http://127.0.0.1:8000", ""},
		{"the docs page on localhost", loop, "POST", "localhost:8000", "http://localhost:8000", ""},
		{"a GET from elsewhere", loop, "GET", "127.0.0.1:8000", "https://evil.example", ""},
		{"an exposed server, any host", exposed, "GET", "refserver.svc:8000", "", ""},
		{"an exposed server, a page posting", exposed, "POST", "refserver.svc:8000", "https://evil.example", "refused"},
		{"an exposed server with names", exposedNamed, "GET", "other.example", "", "does not name this server"},
		{"an exposed server with names, named", exposedNamed, "GET", "llm.internal:8000", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "http://x/generate", nil)
			r.Host = tt.host
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			got := tt.g.Check(r)
			if (tt.refused == "") != (got == "") || !strings.Contains(got, tt.refused) {
				t.Errorf("Check = %q, want %q", got, tt.refused)
			}
		})
	}
}

func TestWrap(t *testing.T) {
	h := New("127.0.0.1:0", nil).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }),
		func(w http.ResponseWriter, r *http.Request, status int, msg string) { http.Error(w, msg, status) })
	r := httptest.NewRequest("GET", "http://evil.example/", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Errorf("a foreign Host: %d, want 403", w.Code)
	}
}
