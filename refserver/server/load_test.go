package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"

	"github.com/llmbench/llmbench/bpe"
	"github.com/llmbench/llmbench/refserver/engine"
	"github.com/llmbench/llmbench/refserver/gpt2"
)

// TestLoad runs bounded load on loopback against synthetic GPT-2 124M: 32
// streaming clients in closed loops for 20 s with the default queue (no
// errors allowed), then 8 s with the queue bound set low (only 429s
// allowed). Afterwards no goroutine is left behind, and the heap at the end
// of the first run is within 64 MiB of where it stood 5 s in.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: 28 s of traffic (skipped with -short)")
	}
	m, err := gpt2.NewSynthetic(gpt2.GPT2Small, 1)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := bpe.New()
	if err != nil {
		t.Fatal(err)
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	tests := []struct {
		name    string
		queue   int
		dur     time.Duration
		allowed map[int]bool
	}{
		{"default queue", 0, 20 * time.Second, map[int]bool{200: true}},
		{"queue of 4", 4, 8 * time.Second, map[int]bool{200: true, 429: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eng, err := engine.New(m, tok, engine.Config{MaxQueue: tc.queue}, nil)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := New(Config{}, m, tok, eng, Info{}, noop.NewTracerProvider(), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- eng.Run(ctx) }()
			hs := httptest.NewServer(srv.Handler())
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}

			var mu sync.Mutex
			codes := map[int]int{}
			var heapAt5s uint64
			stop := time.Now().Add(tc.dur)
			var wg sync.WaitGroup
			for c := 0; c < 32; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; time.Now().Before(stop); i++ {
						code, err := streamRequest(client, hs.URL, fmt.Sprintf("client %d asks question %d about latency", c, i))
						mu.Lock()
						if err != nil {
							codes[-1]++
							t.Errorf("client %d: %v", c, err)
						} else {
							codes[code]++
						}
						mu.Unlock()
						if code == 429 {
							time.Sleep(50 * time.Millisecond) // as Retry-After asks, shortened
						}
					}
				}()
			}
			if tc.queue == 0 {
				time.Sleep(5 * time.Second)
				heapAt5s = heapInUse()
			}
			wg.Wait()
			heapEnd := heapInUse()
			client.CloseIdleConnections()
			hs.Close()
			cancel()
			<-done

			t.Logf("status counts: %v", codes)
			for code, n := range codes {
				if !tc.allowed[code] {
					t.Errorf("%d requests answered %d; allowed: %v", n, code, tc.allowed)
				}
			}
			if codes[200] == 0 {
				t.Errorf("no request succeeded")
			}
			if tc.queue == 4 && codes[429] == 0 {
				t.Errorf("32 clients against a queue of 4 got no 429")
			}
			if heapAt5s > 0 && heapEnd > heapAt5s+64<<20 {
				t.Errorf("heap grew from %d MiB at 5 s to %d MiB at the end", heapAt5s>>20, heapEnd>>20)
			}
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// streamRequest makes one streaming request of up to 32 tokens and reads
// it to the end; it returns the status, and an error for a broken stream.
func streamRequest(c *http.Client, base, prompt string) (int, error) {
	body := fmt.Sprintf(`{"prompt": %q, "max_tokens": 32}`, prompt)
	resp, err := c.Post(base+"/generate/stream", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == "data: [DONE]" {
			return 200, nil
		}
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var ev struct {
				Error json.RawMessage `json:"error"`
			}
			// A generated token may well be the word "error": only an
			// event with an error object is one.
			if json.Unmarshal([]byte(d), &ev) == nil && len(ev.Error) > 0 {
				return 200, fmt.Errorf("error in stream: %s", d)
			}
		}
	}
	return 200, fmt.Errorf("stream ended without [DONE]: %v", sc.Err())
}
