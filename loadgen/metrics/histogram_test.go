package metrics

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/llmbench/llmbench/internal/stats"
	"github.com/llmbench/llmbench/runfmt"
)

// latencies returns n log-normal values around 100 (ms), with a few zeros
// and negatives mixed in when edge is set.
func latencies(seed uint64, n int, edge bool) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = 100 * math.Exp(rng.NormFloat64())
		if edge && i%97 == 0 {
			vals[i] = -vals[i] / 100
		}
		if edge && i%89 == 0 {
			vals[i] = 0
		}
	}
	return vals
}

func TestHistogramMergeExact(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		parts int
		edge  bool
	}{
		{"one part", 1000, 1, false},
		{"three parts", 5000, 3, false},
		{"seven parts with zeros and negatives", 5000, 7, true},
		{"more parts than values", 3, 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := latencies(uint64(tt.n), tt.n, tt.edge)
			whole := NewHistogram(DefaultGamma)
			parts := make([]*Histogram, tt.parts)
			for i := range parts {
				parts[i] = NewHistogram(DefaultGamma)
			}
			for i, v := range vals {
				whole.Add(v)
				parts[(i*7)%tt.parts].Add(v) // interleaved, as processes would see them
			}
			var merged Histogram // the zero value takes the first part's gamma
			for _, p := range parts {
				// Through JSON, as llmbench merge reads summary.json files.
				b, err := json.Marshal(p.Raw())
				if err != nil {
					t.Fatal(err)
				}
				var back runfmt.Histogram
				if err := json.Unmarshal(b, &back); err != nil {
					t.Fatal(err)
				}
				if err := merged.Merge(&back); err != nil {
					t.Fatalf("got error %v, want none", err)
				}
			}
			if !reflect.DeepEqual(merged.Buckets, whole.Buckets) {
				t.Errorf("got buckets %v, want %v", merged.Buckets, whole.Buckets)
			}
			if merged.Gamma != whole.Gamma || merged.Zero != whole.Zero || merged.Count != whole.Count ||
				merged.Min != whole.Min || merged.Max != whole.Max {
				t.Errorf("got gamma %v zero %d count %d min %v max %v, want %v %d %d %v %v",
					merged.Gamma, merged.Zero, merged.Count, merged.Min, merged.Max,
					whole.Gamma, whole.Zero, whole.Count, whole.Min, whole.Max)
			}
			// Sum is exact up to the order of float additions.
			if math.Abs(merged.Sum-whole.Sum) > 1e-9*math.Abs(whole.Sum) {
				t.Errorf("got sum %v, want %v", merged.Sum, whole.Sum)
			}
			for _, q := range []float64{0, 0.5, 0.9, 0.99, 1} {
				if g, w := merged.Quantile(q), whole.Quantile(q); g != w {
					t.Errorf("q %v: got %v, want %v", q, g, w)
				}
			}
		})
	}
}

func TestHistogramMergeGamma(t *testing.T) {
	a, b := NewHistogram(1.01), NewHistogram(1.02)
	a.Add(1)
	b.Add(2)
	err := a.Merge(b.Raw())
	if want := "merge histograms: gamma 1.01 and 1.02 differ"; err == nil || err.Error() != want {
		t.Errorf("got error %v, want %q", err, want)
	}
	if a.Count != 1 {
		t.Errorf("got count %d after a failed merge, want 1", a.Count)
	}
	// An empty histogram merges into anything.
	if err := a.Merge(NewHistogram(2).Raw()); err != nil {
		t.Errorf("merge empty: got error %v, want none", err)
	}
	if err := a.Merge(nil); err != nil {
		t.Errorf("merge nil: got error %v, want none", err)
	}
	bad := &runfmt.Histogram{Gamma: 0, Count: 1, Zero: 1}
	if err, want := a.Merge(bad), "merge histograms: gamma 0, want > 1"; err == nil || err.Error() != want {
		t.Errorf("merge without gamma: got error %v, want %q", err, want)
	}
}

func TestHistogramQuantileBound(t *testing.T) {
	for _, gamma := range []float64{1.01, 1.05} {
		vals := latencies(42, 20000, false)
		vals = append(vals, 0.001, 1e6) // far tails
		h := NewHistogram(gamma)
		for _, v := range vals {
			h.Add(v)
		}
		slices.Sort(vals)
		bound := (gamma - 1) / (gamma + 1)
		for _, q := range []float64{0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999} {
			want := stats.Percentile(vals, q*100)
			got := h.Quantile(q)
			if rel := math.Abs(got-want) / want; rel > bound+1e-12 {
				t.Errorf("gamma %v q %v: got %v, want %v within %.4f%% (off by %.4f%%)", gamma, q, got, want, 100*bound, 100*rel)
			}
		}
		if h.Quantile(0) != vals[0] || h.Quantile(1) != vals[len(vals)-1] {
			t.Errorf("gamma %v: got q0 %v q1 %v, want the exact min %v and max %v", gamma, h.Quantile(0), h.Quantile(1), vals[0], vals[len(vals)-1])
		}
	}
}

func TestHistogramEdges(t *testing.T) {
	tests := []struct {
		name string
		vals []float64
		q    float64
		want float64
	}{
		{"empty", nil, 0.5, 0},
		{"one value", []float64{7}, 0.5, 7},
		{"equal values read exactly", []float64{3, 3, 3, 3}, 0.9, 3},
		{"zeros", []float64{0, 0, 0, 5}, 0.5, 0},
		{"negatives clamp to max", []float64{-3, -2}, 0.5, -2},
		{"NaN and Inf ignored", []float64{math.NaN(), 4, math.Inf(1)}, 0.5, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistogram(DefaultGamma)
			for _, v := range tt.vals {
				h.Add(v)
			}
			if got := h.Quantile(tt.q); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Errorf("NewHistogram(1): got no panic, want one")
		}
	}()
	NewHistogram(1)
}

func TestBucketBounds(t *testing.T) {
	// Bucket i holds (gamma^(i-1), gamma^i].
	for _, v := range []float64{0.001, 0.5, 1, 1.5, 100, 12345.678} {
		i := bucketIndex(v, DefaultGamma)
		lo, hi := math.Pow(DefaultGamma, float64(i-1)), math.Pow(DefaultGamma, float64(i))
		if !(v > lo*(1-1e-12) && v <= hi*(1+1e-12)) {
			t.Errorf("%v: got bucket %d = (%v, %v], want it inside", v, i, lo, hi)
		}
	}
}
