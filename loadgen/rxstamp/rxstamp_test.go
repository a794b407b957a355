package rxstamp

import (
	"testing"
	"time"
)

func TestMonotonic(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		name  string
		stamp time.Time
		ok    bool
	}{
		{"a millisecond ago", now.Add(-time.Millisecond).Round(0), true},
		{"in the future", now.Add(time.Second).Round(0), false},
		{"an hour ago: the wall clock stepped", now.Add(-time.Hour).Round(0), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := monotonic(tt.stamp, now)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && (got.Sub(now) != -time.Millisecond || got.Round(0) == got) {
				t.Errorf("got %v (%v before now), want a monotonic time 1ms before now", got, now.Sub(got))
			}
		})
	}
}
