package metrics

import "testing"

func TestFormat(t *testing.T) {
	tests := []struct {
		v        float64
		contains string
		want     string
	}{
		{0, "time", "0s"},
		{0.007, "time", "7µs"},
		{0.01225, "time", "12.25µs"},
		{0.0000005, "time", "0.5ns"},
		{0.9999999, "time", "1ms"}, // rounds into the next unit
		{144.5649, "time", "144.56ms"},
		{1350, "time", "1.35s"},
		{59990, "time", "59.99s"},
		{59999, "time", "1m0s"}, // 60.00s
		{90000, "time", "1m30s"},
		{3723500, "time", "1h2m3.5s"},
		{-2.5, "time", "-2.5ms"},
		{718, "data", "718 B"},
		{4900, "data", "4.9 kB"},
		{81000, "data", "81 kB"},
		{999960, "data", "1.0 MB"},
		{1.3e6, "data", "1.3 MB"},
		{180, "default", "180"},
		{4.369380, "default", "4.36938"},
		{152.3555555, "default", "152.355556"},
		{-0.0000001, "default", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := FormatValue(tt.v, tt.contains); got != tt.want {
				t.Errorf("FormatValue(%v, %s): got %q, want %q", tt.v, tt.contains, got, tt.want)
			}
		})
	}
}
