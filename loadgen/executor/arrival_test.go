package executor

import (
	"math"
	"slices"
	"testing"
	"time"
)

// collect lists the offsets of a scenario's whole arrival sequence.
func collect(s Scenario) []time.Duration {
	var out []time.Duration
	next := int64(0)
	for i, at := range arrivals(&s) {
		if i != next {
			panic("arrival numbers out of order")
		}
		next++
		out = append(out, at)
	}
	return out
}

func TestConstantArrivals(t *testing.T) {
	tests := []struct {
		name string
		s    Scenario
		want []time.Duration
	}{
		{
			name: "10 per second for 1s",
			s:    Scenario{Executor: ConstantArrivalRate, Rate: 10, TimeUnit: time.Second, Duration: time.Second},
			want: []time.Duration{0, 100e6, 200e6, 300e6, 400e6, 500e6, 600e6, 700e6, 800e6, 900e6},
		},
		{
			name: "3 per second rounds down to the nanosecond",
			s:    Scenario{Executor: ConstantArrivalRate, Rate: 3, TimeUnit: time.Second, Duration: 1500 * time.Millisecond},
			want: []time.Duration{0, 333333333, 666666666, 1e9, 1333333333},
		},
		{
			name: "2 per minute",
			s:    Scenario{Executor: ConstantArrivalRate, Rate: 2, TimeUnit: time.Minute, Duration: 2 * time.Minute},
			want: []time.Duration{0, 30 * time.Second, 60 * time.Second, 90 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := collect(tt.s); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConstantArrivalsHugeCount(t *testing.T) {
	// 1000 per 1000h over 10 years: i×unit overflows int64 from the
	// 2563rd arrival on, and the 128-bit arithmetic must stay exact.
	s := Scenario{Executor: ConstantArrivalRate, Rate: 1000, TimeUnit: 1000 * time.Hour, Duration: 10 * 365 * 24 * time.Hour}
	var n int64
	var last time.Duration
	for i, at := range arrivals(&s) {
		if want := time.Duration(i) * time.Hour; at != want {
			t.Fatalf("arrival %d: got %s, want %s", i, at, want)
		}
		n, last = i+1, at
	}
	if want := int64(10 * 365 * 24); n != want {
		t.Errorf("got %d arrivals, want %d", n, want)
	}
	if want := s.Duration - time.Hour; last != want {
		t.Errorf("got the last arrival at %s, want %s", last, want)
	}
}

// TestRampingArrivals checks uniform ramping arrivals against the closed
// form of N(t) = i in each stage.
func TestRampingArrivals(t *testing.T) {
	s := Scenario{
		Executor: RampingArrivalRate, TimeUnit: time.Second, StartRate: 0,
		Stages: []Stage{
			{10 * time.Second, 10}, // N = t²/2: 50 arrivals
			{5 * time.Second, 0},   // N = 50 + 10t − t²: 25 arrivals
			{3 * time.Second, 0},   // a pause: none
			{0, 10},                // a jump
			{10 * time.Second, 10}, // N = 75 + 10t: 100 arrivals
		},
	}
	var want []time.Duration
	sec := func(x float64) time.Duration { return time.Duration(math.Round(x * 1e9)) }
	for i := 0; i < 50; i++ {
		want = append(want, sec(math.Sqrt(2*float64(i))))
	}
	for i := 50; i < 75; i++ { // 50 + 10τ − τ² = i
		want = append(want, 10*time.Second+sec(5-math.Sqrt(25-float64(i-50))))
	}
	for i := 75; i < 175; i++ {
		want = append(want, 18*time.Second+sec(float64(i-75)/10))
	}
	got := collect(s)
	if len(got) != len(want) {
		t.Fatalf("got %d arrivals, want %d", len(got), len(want))
	}
	for i := range got {
		if d := got[i] - want[i]; d < -2 || d > 2 {
			t.Errorf("arrival %d: got %s, want %s", i, got[i], want[i])
		}
	}
}

func TestRampingArrivalsStartAtFirstPositiveRate(t *testing.T) {
	s := Scenario{Executor: RampingArrivalRate, TimeUnit: time.Second, Stages: []Stage{{5 * time.Second, 0}, {0, 4}, {time.Second, 4}}}
	want := []time.Duration{5 * time.Second, 5250 * time.Millisecond, 5500 * time.Millisecond, 5750 * time.Millisecond}
	if got := collect(s); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestPoissonArrivals checks the count, the mean gap and the spread of the
// gaps of Poisson arrivals for fixed seeds, and that a seed gives the same
// arrivals every time.
func TestPoissonArrivals(t *testing.T) {
	tests := []struct {
		name      string
		s         Scenario
		wantCount float64 // expected arrivals
	}{
		{
			name:      "constant 50/s for 200s",
			s:         Scenario{Executor: ConstantArrivalRate, Rate: 50, TimeUnit: time.Second, Duration: 200 * time.Second, Arrival: ArrivalPoisson, Seed: 42},
			wantCount: 10000,
		},
		{
			name:      "ramping 0 to 100/s over 100s",
			s:         Scenario{Executor: RampingArrivalRate, TimeUnit: time.Second, Stages: []Stage{{100 * time.Second, 100}}, Arrival: ArrivalPoisson, Seed: 7},
			wantCount: 5000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := collect(tt.s)
			// The count is Poisson: allow 4 standard deviations.
			if n := float64(len(got)); math.Abs(n-tt.wantCount) > 4*math.Sqrt(tt.wantCount) {
				t.Errorf("got %d arrivals, want %.0f ± %.0f", len(got), tt.wantCount, 4*math.Sqrt(tt.wantCount))
			}
			if !slices.IsSorted(got) {
				t.Errorf("got arrivals out of order")
			}
			if again := collect(tt.s); !slices.Equal(got, again) {
				t.Errorf("got different arrivals for the same seed")
			}
			other := tt.s
			other.Seed++
			if slices.Equal(got, collect(other)) {
				t.Errorf("got the same arrivals for another seed")
			}
		})
	}
	t.Run("gaps are exponential", func(t *testing.T) {
		s := Scenario{Executor: ConstantArrivalRate, Rate: 50, TimeUnit: time.Second, Duration: 200 * time.Second, Arrival: ArrivalPoisson, Seed: 42}
		got := collect(s)
		var sum, sq float64
		for i := 1; i < len(got); i++ {
			g := (got[i] - got[i-1]).Seconds()
			sum += g
			sq += g * g
		}
		n := float64(len(got) - 1)
		mean := sum / n
		cv := math.Sqrt(sq/n-mean*mean) / mean // 1 for an exponential
		if math.Abs(mean-0.02) > 0.02*0.05 {
			t.Errorf("got a mean gap of %.5fs, want 0.02s ± 5%%", mean)
		}
		if math.Abs(cv-1) > 0.05 {
			t.Errorf("got a coefficient of variation of %.3f, want 1 ± 0.05", cv)
		}
	})
	t.Run("ramping rate follows the stages", func(t *testing.T) {
		s := Scenario{Executor: RampingArrivalRate, TimeUnit: time.Second, Stages: []Stage{{100 * time.Second, 100}}, Arrival: ArrivalPoisson, Seed: 7}
		firstHalf := 0
		for _, at := range collect(s) {
			if at < 50*time.Second {
				firstHalf++
			}
		}
		// N(50s) = 1250 of the 5000.
		if math.Abs(float64(firstHalf)-1250) > 4*math.Sqrt(1250) {
			t.Errorf("got %d arrivals in the first half, want 1250 ± %.0f", firstHalf, 4*math.Sqrt(1250))
		}
	})
}

func TestRampSteps(t *testing.T) {
	tests := []struct {
		name   string
		start  int64
		stages []Stage
		want   []step
	}{
		{
			name:   "up then down",
			start:  0,
			stages: []Stage{{4 * time.Second, 4}, {2 * time.Second, 2}},
			want:   []step{{0, 0}, {1e9, 1}, {2e9, 2}, {3e9, 3}, {4e9, 4}, {5e9, 3}, {6e9, 2}},
		},
		{
			name:   "uneven ramp rounds up to the nanosecond",
			start:  1,
			stages: []Stage{{time.Second, 4}},
			want:   []step{{0, 1}, {333333334, 2}, {666666667, 3}, {1e9, 4}},
		},
		{
			name:   "jumps and holds",
			start:  5,
			stages: []Stage{{0, 2}, {time.Second, 2}, {0, 3}},
			want:   []step{{0, 2}, {1e9, 3}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rampSteps(tt.start, tt.stages); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestActivations(t *testing.T) {
	s := time.Second
	steps := []step{{0, 2}, {10 * s, 1}, {12 * s, 2}, {20 * s, 1}, {30 * s, 2}}
	tests := []struct {
		name     string
		rampDown time.Duration
		want     [][]activation
	}{
		{
			name:     "back within gracefulRampDown keeps the iteration",
			rampDown: 3 * s,
			want: [][]activation{
				{{0, 40 * s, -1}},
				{{0, 10 * s, 23 * s}, {12 * s, 20 * s, 23 * s}, {30 * s, 40 * s, -1}},
			},
		},
		{
			name:     "back later does not",
			rampDown: time.Second,
			want: [][]activation{
				{{0, 40 * s, -1}},
				{{0, 10 * s, 11 * s}, {12 * s, 20 * s, 21 * s}, {30 * s, 40 * s, -1}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := activations(steps, 40*s, tt.rampDown, []int64{0, 1})
			for i := range tt.want {
				if !slices.Equal(got[i], tt.want[i]) {
					t.Errorf("VU %d: got %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestSegmentsSplitVUsExactly checks that for every instant of a ramp, the
// segments of a sequence together run exactly the whole test's VUs.
func TestSegmentsSplitVUsExactly(t *testing.T) {
	s := Scenario{Name: "r", Executor: RampingVUs, StartVUs: 3, GracefulRampDown: time.Second,
		Stages: []Stage{{10 * time.Second, 17}, {5 * time.Second, 17}, {7 * time.Second, 2}, {3 * time.Second, 9}}}
	steps := rampSteps(s.StartVUs, s.Stages)
	for _, seq := range testSequences {
		t.Run(seq, func(t *testing.T) {
			var plans []*plan
			for _, seg := range sequenceSegments(t, seq) {
				plans = append(plans, newPlan(s, seg))
			}
			for i, st := range steps {
				for _, at := range []time.Duration{st.At, st.At + 1} {
					if i+1 < len(steps) && at >= steps[i+1].At || at >= s.Length() {
						continue
					}
					var sum int64
					for _, p := range plans {
						for _, acts := range p.acts {
							for _, a := range acts {
								if a.start <= at && at < a.end {
									sum++
								}
							}
						}
					}
					if sum != st.VUs {
						t.Errorf("at %s: segments run %d VUs, want %d", at, sum, st.VUs)
					}
				}
			}
		})
	}
}
