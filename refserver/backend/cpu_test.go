package backend_test

import (
	"testing"

	"github.com/llmbench/llmbench/refserver/backend"
	"github.com/llmbench/llmbench/refserver/backend/backendtest"
	"github.com/llmbench/llmbench/refserver/gpt2"
	"github.com/llmbench/llmbench/refserver/gpt2/gpt2test"
)

func TestCPUConformance(t *testing.T) {
	m, err := gpt2.Load(gpt2test.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	b := backend.NewCPU(m, 2, 64)
	defer b.Close()
	// The CPU kernels sum in a fixed order per row, whatever the batch.
	backendtest.Conformance(t, b, 1e-5)
}
