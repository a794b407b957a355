package script

import (
	"testing"
	"time"
)

// TestParseDuration: a k6/http timeout reads as k6 reads durations: a
// number of milliseconds, or a string with units, days included.
func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want time.Duration
		ok   bool
	}{
		{int64(1500), 1500 * time.Millisecond, true},
		{2.5, 2500 * time.Microsecond, true},
		{"30s", 30 * time.Second, true},
		{"1m30s", 90 * time.Second, true},
		{"1d", 24 * time.Hour, true},
		{"1500", 1500 * time.Millisecond, true},
		{"soon", 0, false},
		{true, 0, false},
	} {
		got, err := parseDuration(tc.v)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseDuration(%#v) = %v, %v; want %v (ok %v)", tc.v, got, err, tc.want, tc.ok)
		}
	}
}
