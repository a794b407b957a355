package engine

import (
	"strings"
	"testing"
)

func TestTextOut(t *testing.T) {
	smile := []byte("😀")
	tests := []struct {
		name     string
		stops    []string
		pieces   [][]byte
		want     []string // what each push returns
		stopAt   int      // index of the push that reports a stop, -1 for none
		wantTail string   // what flush returns afterwards
	}{
		{"plain", nil, [][]byte{[]byte("Hello"), []byte(" world")}, []string{"Hello", " world"}, -1, ""},
		{"emoji split over three tokens", nil, [][]byte{smile[:2], smile[2:3], smile[3:]}, []string{"", "", "😀"}, -1, ""},
		{"truncated emoji at the end", nil, [][]byte{smile[:2]}, []string{""}, -1, "\uFFFD\uFFFD"},
		{"invalid byte is not held", nil, [][]byte{{0xFF}, []byte("a")}, []string{"\uFFFD", "a"}, -1, ""},
		{"stop inside one token", []string{"\n\n"}, [][]byte{[]byte("ab\n\ncd")}, []string{"ab"}, 0, ""},
		{"stop across tokens is held, then cut", []string{"END"}, [][]byte{[]byte("x E"), []byte("N"), []byte("D!")}, []string{"x ", "", ""}, 2, ""},
		{"held prefix released when it diverges", []string{"END"}, [][]byte{[]byte("x E"), []byte("NO")}, []string{"x ", "ENO"}, -1, ""},
		{"earliest of two stops wins", []string{"b", "a"}, [][]byte{[]byte("xab")}, []string{"x"}, 0, ""},
		{"held prefix flushed at the end", []string{"STOP"}, [][]byte{[]byte("go ST")}, []string{"go "}, -1, "ST"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			to := &textOut{stops: tc.stops}
			stopAt := -1
			for i, p := range tc.pieces {
				got, stopped := to.push(p)
				if got != tc.want[i] {
					t.Errorf("push %d (%q) = %q, want %q", i, p, got, tc.want[i])
				}
				if stopped {
					stopAt = i
					break
				}
			}
			if stopAt != tc.stopAt {
				t.Errorf("stop at push %d, want %d", stopAt, tc.stopAt)
			}
			if got := to.flush(); got != tc.wantTail {
				t.Errorf("flush = %q, want %q", got, tc.wantTail)
			}
		})
	}
}

// FuzzTextOut checks that, with no stop sequence hit, the streamed text
// joined with the flush is the input made valid UTF-8, however it is split.
func FuzzTextOut(f *testing.F) {
	f.Add([]byte("héllo 😀 wörld"), uint8(3), "wö")
	f.Add([]byte{0xF0, 0x9F, 0x98}, uint8(1), "")
	f.Fuzz(func(t *testing.T, data []byte, split uint8, stop string) {
		to := &textOut{stops: []string{stop}}
		n := int(split%7) + 1
		var b strings.Builder
		stopped := false
		for i := 0; i < len(data) && !stopped; i += n {
			s, st := to.push(data[i:min(i+n, len(data))])
			b.WriteString(s)
			stopped = st
		}
		b.WriteString(to.flush())
		if stopped || stop == "" {
			return
		}
		if got, want := b.String(), valid(data); got != want {
			t.Fatalf("streamed %q, want %q", got, want)
		}
	})
}
