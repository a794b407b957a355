package refserver

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llmbench/llmbench/refserver/cuda"
	"github.com/llmbench/llmbench/refserver/gpt2/gpt2test"
)

func TestGeneratePrintIDsMatchesFixture(t *testing.T) {
	dir, fx := gpt2test.Load(t)
	for _, c := range fx.Cases {
		ids := make([]string, len(c.InputIDs))
		for i, id := range c.InputIDs {
			ids[i] = strconv.Itoa(id)
		}
		cfg := GenerateConfig{Model: ModelConfig{Dir: dir}, PromptIDs: strings.Join(ids, ","),
			MaxTokens: 16, Greedy: true, PrintIDs: true, Seed: -1}
		var out, log bytes.Buffer
		if err := Generate(context.Background(), cfg, &out, &log); err != nil {
			t.Fatalf("Generate: %v\nlog: %s", err, &log)
		}
		want := make([]string, len(c.Greedy16))
		for i, id := range c.Greedy16 {
			want[i] = strconv.Itoa(id)
		}
		if got := strings.TrimSpace(out.String()); got != strings.Join(want, ",") {
			t.Errorf("prompt %v: printed %q, want %q", c.InputIDs, got, strings.Join(want, ","))
		}
	}
}

func TestGenerateText(t *testing.T) {
	dir := gpt2test.Dir(t)
	var out, log bytes.Buffer
	cfg := GenerateConfig{Model: ModelConfig{Dir: dir}, Prompt: "Hello world", MaxTokens: 5, Temperature: 0.8, TopK: 40, Seed: 3}
	if err := Generate(context.Background(), cfg, &out, &log); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out.String()) == "" {
		t.Errorf("no text printed")
	}
	if !strings.Contains(log.String(), "2 prompt + 5 generated tokens") {
		t.Errorf("log %q does not report the token counts", &log)
	}
	// The same seed prints the same text.
	var again bytes.Buffer
	if err := Generate(context.Background(), cfg, &again, &log); err != nil {
		t.Fatal(err)
	}
	if again.String() != out.String() {
		t.Errorf("seeded runs differ: %q and %q", &again, &out)
	}
}

func TestGenerateErrors(t *testing.T) {
	dir := gpt2test.Dir(t)
	tests := []struct {
		name string
		cfg  GenerateConfig
		want string
	}{
		{"no prompt", GenerateConfig{MaxTokens: 1}, "exactly one of --prompt and --prompt-ids"},
		{"both prompts", GenerateConfig{Prompt: "a", PromptIDs: "1", MaxTokens: 1}, "exactly one"},
		{"bad id list", GenerateConfig{Model: ModelConfig{Dir: dir}, PromptIDs: "1,x", MaxTokens: 1}, `"x" is not a token id`},
		{"zero tokens", GenerateConfig{Prompt: "a"}, "--max-tokens is 0"},
		{"prompt too long", GenerateConfig{Model: ModelConfig{Dir: dir}, Prompt: strings.Repeat("hello ", 200), MaxTokens: 1, Seed: -1}, "context holds 128"},
		{"bad temperature", GenerateConfig{Model: ModelConfig{Dir: dir}, Prompt: "a", MaxTokens: 1, Temperature: -1, Seed: -1}, "temperature"},
		{"missing model", GenerateConfig{Model: ModelConfig{Dir: t.TempDir()}, Prompt: "a", MaxTokens: 1}, "config.json"},
		{"bad synthetic size", GenerateConfig{Model: ModelConfig{Size: "7B"}, Prompt: "a", MaxTokens: 1}, `unknown GPT-2 size "7B"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, log bytes.Buffer
			err := Generate(context.Background(), tc.cfg, &out, &log)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestDeviceFlag(t *testing.T) {
	tests := []struct {
		device, dtype, kv, want string // want: "" for no error, else a substring
	}{
		{"", "", "", ""}, {"cpu", "", "", ""}, {"auto", "", "", ""}, {"cuda", "", "", ""}, {"cuda", "bf16", "", ""}, {"cpu", "f32", "", ""}, {"cpu", "bf16", "", ""},
		{"cpu", "f16", "", ""}, {"cpu", "int8", "", ""}, {"auto", "int8", "", ""}, {"cpu", "int8", "f16", ""}, {"auto", "", "int8", ""},
		{"cuda", "int8", "", "the GPU backend takes f16, bf16 and f32"},
		{"cuda", "int4", "", `want f32, bf16, f16 or int8`},
		{"cpu", "int8", "q4", `--kv-dtype "q4": want f32, f16 or int8`},
		{"cuda", "f16", "int8", "--kv-dtype is for the CPU engine"},
		{"tpu", "", "", `want cpu, cuda or auto`},
	}
	for _, tt := range tests {
		err := ServeConfig{Device: tt.device, DType: tt.dtype, KVDType: tt.kv}.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("--device %q --dtype %q --kv-dtype %q: got %v, want %q", tt.device, tt.dtype, tt.kv, err, tt.want)
		}
	}
}

// TestServeEndsWithASilentConnection: a client that connected and sent
// nothing (net/http leaves such a connection alone for its first 5 s)
// must not make a clean shutdown fail. It did, with "context deadline
// exceeded", when a load generator's transport dialed a connection it
// then did not need.
func TestServeEndsWithASilentConnection(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := make(chan string, 1), make(chan error, 1)
	cfg := ServeConfig{Model: ModelConfig{Dir: gpt2test.Dir(t)}}
	cfg.HTTP.Addr = "127.0.0.1:0"
	var log syncBuffer
	go func() { done <- Serve(ctx, cfg, &log, func(a string) { addr <- a }) }()
	var a string
	select {
	case a = <-addr:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	c, err := net.Dial("tcp", a)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(100 * time.Millisecond) // accepted
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil after closing the silent connection", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// TestServeWithoutGPU: on a machine without a GPU, --device cuda fails
// with one line that names what is missing, and --device auto serves on
// the CPU and logs why.
func TestServeWithoutGPU(t *testing.T) {
	if n, err := cuda.Probe(); err == nil {
		t.Skipf("this machine has %d CUDA device(s)", n)
	}
	cfg := ServeConfig{Device: "cuda", Model: ModelConfig{Dir: gpt2test.Dir(t)}}
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Engine.NoCalibration = true
	var log syncBuffer
	err := Serve(t.Context(), cfg, &log, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "--device cuda: cuda: ") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("--device cuda without a GPU: %v, want one line naming the cause", err)
	}
	t.Logf("--device cuda: %v", err)

	cfg.Device = "auto"
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, &log, func(a string) { addr <- a }) }()
	var a string
	select {
	case a = <-addr:
	case err := <-done:
		t.Fatalf("--device auto: %v", err)
	}
	resp, err := http.Get("http://" + a + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Device string `json:"device"`
		GPU    bool   `json:"gpu_available"`
		DType  string `json:"dtype"`
	}
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	if h.Device != "cpu" || h.GPU || h.DType != "f32" {
		t.Errorf("/health says device %q, gpu %v, dtype %q; want cpu, false, f32", h.Device, h.GPU, h.DType)
	}
	if !strings.Contains(log.String(), "--device auto: serving on the CPU") || !strings.Contains(log.String(), "why=") {
		t.Errorf("the log does not say why auto chose the CPU:\n%s", log.String())
	}
}
