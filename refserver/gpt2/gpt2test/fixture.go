// Package gpt2test finds and reads the shared GPT-2 test fixture
// (../shared/fixtures/gpt2-tiny beside the repository): a tiny checkpoint
// and its reference outputs from an independent implementation.
package gpt2test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Case is one reference prompt of expected.json.
type Case struct {
	InputIDs  []int        `json:"input_ids"`
	First16   []float64    `json:"last_logits_first16"`
	Top10     [][2]float64 `json:"last_logits_top10"`
	Mean      float64      `json:"last_logits_mean"`
	Std       float64      `json:"last_logits_std"`
	Greedy16  []int        `json:"greedy_16"`
	MinMargin float64      `json:"greedy_min_margin"`
}

// Expected is expected.json.
type Expected struct {
	Tolerance float64 `json:"tolerance_abs"`
	Cases     []Case  `json:"cases"`
}

// Dir returns the gpt2-tiny folder: $LLMBENCH_FIXTURES/gpt2-tiny, or
// shared/fixtures/gpt2-tiny beside the repository root. A missing fixture
// fails the test: it is part of the project's contract, not optional.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("LLMBENCH_FIXTURES"); d != "" {
		return filepath.Join(d, "gpt2-tiny")
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("gpt2test: no go.mod above the test directory")
		}
		dir = parent
	}
	d := filepath.Join(dir, "..", "shared", "fixtures", "gpt2-tiny")
	if _, err := os.Stat(d); err != nil {
		t.Fatalf("gpt2test: fixture missing: %v (set LLMBENCH_FIXTURES to the shared/fixtures folder)", err)
	}
	return d
}

// Load reads expected.json from the fixture folder.
func Load(t testing.TB) (dir string, want Expected) {
	t.Helper()
	dir = Dir(t)
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("gpt2test: expected.json: %v", err)
	}
	return dir, want
}
