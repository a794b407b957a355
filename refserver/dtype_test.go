package refserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/llmbench/llmbench/refserver"
	"github.com/llmbench/llmbench/refserver/refservertest"
)

// TestServeBF16OnTheCPU: --dtype bf16 on the CPU serves with its weights
// in bfloat16 and says so in /health and /metrics (issue 22).
func TestServeBF16OnTheCPU(t *testing.T) {
	base := refservertest.Start(t, refserver.ServeConfig{DType: "bf16"})
	resp, err := http.Get(base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		DType   string `json:"dtype"`
		Backend string `json:"backend"`
	}
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if h.DType != "bf16" || h.Backend != "cpu" {
		t.Errorf("/health: dtype %q on %q, want bf16 on cpu", h.DType, h.Backend)
	}
	resp, err = http.Post(base+"/generate", "application/json", strings.NewReader(`{"prompt": "Hello world", "max_tokens": 4, "do_sample": false}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"completion_tokens":4`) {
		t.Errorf("generate: %d %s", resp.StatusCode, b)
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), `dtype="bf16"`) {
		t.Errorf("/metrics lacks llm_backend_info{dtype=\"bf16\"}")
	}
}
