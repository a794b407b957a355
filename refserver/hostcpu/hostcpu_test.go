package hostcpu

import (
	"runtime"
	"testing"
)

func TestRanges(t *testing.T) {
	tests := []struct {
		name  string
		cores []int
		want  string
	}{
		{"none", nil, ""},
		{"one", []int{3}, "3"},
		{"a range", []int{0, 1, 2, 3}, "0-3"},
		{"ranges and singles, unsorted", []int{6, 0, 2, 1, 9, 10}, "0-2,6,9-10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Ranges(tt.cores); got != tt.want {
				t.Errorf("Ranges(%v) = %q, want %q", tt.cores, got, tt.want)
			}
		})
	}
}

func TestAffinity(t *testing.T) {
	a := Affinity()
	if a.Count < 1 {
		t.Fatalf("Affinity() = %+v: want at least one core", a)
	}
	if runtime.GOOS == "linux" && (len(a.Cores) != a.Count || a.String() == "") {
		t.Errorf("Affinity() = %+v on Linux: want the mask's cores listed", a)
	}
}

func TestProcessCPU(t *testing.T) {
	before, ok := ProcessCPU()
	if !ok {
		t.Skipf("this OS (%s) does not report process CPU time", runtime.GOOS)
	}
	// Burn CPU until the counter moves: it must, and never backwards.
	x := 0
	for i := 0; ; i++ {
		x += i * i
		if i%1_000_000 == 0 {
			if now, _ := ProcessCPU(); now > before {
				break
			} else if now < before {
				t.Fatalf("process CPU went back from %v to %v", before, now)
			}
		}
	}
	_ = x
}
