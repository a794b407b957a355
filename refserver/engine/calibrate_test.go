package engine

import (
	"context"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/llmbench/llmbench/refserver/hostcpu"
	"github.com/llmbench/llmbench/refserver/sample"
)

func TestCalibSizes(t *testing.T) {
	tests := []struct {
		max  int
		want []int
	}{
		{1, []int{1}},
		{2, []int{1, 2}},
		{8, []int{1, 2, 4, 8}},
		{12, []int{1, 2, 4, 8, 12}},
	}
	for _, tt := range tests {
		if got := calibSizes(tt.max); !slices.Equal(got, tt.want) {
			t.Errorf("calibSizes(%d) = %v, want %v", tt.max, got, tt.want)
		}
	}
}

func TestCalibrate(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	e, err := New(synthetic(t), byteVocab{}, Config{MaxBatch: 6, Threads: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.StepCost(); got != nil {
		t.Errorf("StepCost before Calibrate = %v, want nil", got)
	}
	points, err := e.Calibrate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var batches []int
	for _, p := range points {
		batches = append(batches, p.Batch)
		if p.Median <= 0 || p.Spread < 0 {
			t.Errorf("batch %d: median %v, spread %v; want a positive median", p.Batch, p.Median, p.Spread)
		}
	}
	if want := []int{1, 2, 4, 6}; !slices.Equal(batches, want) {
		t.Errorf("calibrated batch sizes %v, want %v", batches, want)
	}
	if got := e.StepCost(); !slices.Equal(got, points) {
		t.Errorf("StepCost() = %v, want what Calibrate returned, %v", got, points)
	}

	// The engine still serves, on the pool Calibrate made.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	ch, err := e.Submit(t.Context(), Request{Prompt: []int{1, 2, 3}, MaxTokens: 4, Sampling: sample.Params{}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ev := range ch {
		if ev.Token >= 0 {
			n++
		}
	}
	if n != 4 {
		t.Errorf("generated %d tokens after calibrating, want 4", n)
	}
	st := e.State()
	if st.Busy <= 0 {
		t.Errorf("busy time %v after 4 steps, want > 0", st.Busy)
	}
	if _, ok := hostcpu.ProcessCPU(); ok && st.BusyCPU <= 0 {
		t.Errorf("busy CPU %v after 4 steps, want > 0 where the OS reports CPU time", st.BusyCPU)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

func TestCalibrateCancelled(t *testing.T) {
	e, err := New(synthetic(t), byteVocab{}, Config{MaxBatch: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Calibrate(ctx); err == nil {
		t.Error("Calibrate with a cancelled context: no error")
	}
	if e.StepCost() != nil {
		t.Error("a cancelled calibration left step costs")
	}
	e.pool.Close() // Calibrate made it; Run would have closed it
}
