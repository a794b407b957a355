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

// TestServeDTypesOnTheCPU: --dtype bf16, f16 and int8 on the CPU serve
// with the weights in that type, the KV cache in the weights' (halves for
// bf16 and f16, int8 for int8) or in --kv-dtype's, and say so in /health
// and /metrics (issue 22).
func TestServeDTypesOnTheCPU(t *testing.T) {
	for _, tc := range []struct{ dt, kv, wantKV string }{
		{"bf16", "", "f16"}, {"f16", "", "f16"}, {"int8", "", "int8"}, {"int8", "f16", "f16"}, {"bf16", "int8", "int8"}, {"f32", "int8", "int8"},
	} {
		t.Run(tc.dt+"/kv-"+tc.kv, func(t *testing.T) { testServeDType(t, tc.dt, tc.kv, tc.wantKV) })
	}
}

func testServeDType(t *testing.T, dt, kv, wantKV string) {
	base := refservertest.Start(t, refserver.ServeConfig{DType: dt, KVDType: kv})
	resp, err := http.Get(base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		DType   string `json:"dtype"`
		KVDType string `json:"kv_dtype"`
		Backend string `json:"backend"`
	}
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if h.DType != dt || h.Backend != "cpu" || h.KVDType != wantKV {
		t.Errorf("/health: dtype %q, KV %q on %q, want %s, %s KV, on cpu", h.DType, h.KVDType, h.Backend, dt, wantKV)
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
	if !strings.Contains(string(m), `dtype="`+dt+`"`) {
		t.Errorf("/metrics lacks llm_backend_info{dtype=%q}", dt)
	}
}
