package runfmt

import (
	"math"
	"testing"
)

func TestImplausible(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name string
		r    Request
		want string
	}{
		{"plausible", Request{TTFTMS: f(12), E2EMS: f(340), CloseMS: 341, GapsMS: []float64{1, 2}}, ""},
		{"huge TTFT", Request{TTFTMS: f(1e308)}, "ttft_ms = 1e+308"},
		{"negative e2e", Request{E2EMS: f(-5)}, "e2e_ms = -5"},
		{"NaN close", Request{CloseMS: math.NaN()}, "close_ms = NaN"},
		{"just past the bound", Request{ServerTotalMS: f(MaxPlausibleMS + 1)}, "server_total_ms = 1.000000001e+09"},
		{"a bad gap", Request{GapsMS: []float64{1, math.Inf(1)}}, "gaps_ms[1] = +Inf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Implausible(); got != tt.want {
				t.Errorf("Implausible() = %q, want %q", got, tt.want)
			}
		})
	}
}
