package main

import (
	"strings"
	"testing"
)

// TestEVEXEncodings checks the hand-encoded AVX512_BF16 instructions
// against the bytes GNU as (binutils 2.40) writes for the same Intel-syntax
// lines, registers 0..31 in each field.
func TestEVEXEncodings(t *testing.T) {
	tests := []struct {
		intel string
		got   string
		want  string
	}{
		{"vdpbf16ps zmm3, zmm2, zmm1", vdpbf16ps(3, 2, 1), "62 f2 6e 48 52 d9"},
		{"vdpbf16ps zmm17, zmm30, zmm9", vdpbf16ps(17, 30, 9), "62 c2 0e 40 52 c9"},
		{"vdpbf16ps zmm0, zmm31, zmm16", vdpbf16ps(0, 31, 16), "62 b2 06 40 52 c0"},
		{"vdpbf16ps zmm0, zmm30, zmm28", vdpbf16ps(0, 30, 28), "62 92 0e 40 52 c4"},
		{"vdpbf16ps zmm15, zmm31, zmm27", vdpbf16ps(15, 31, 27), "62 12 06 40 52 fb"},
		{"vcvtneps2bf16 ymm2, zmm1", vcvtneps2bf16(2, 1), "62 f2 7e 48 72 d1"},
		{"vcvtneps2bf16 ymm20, zmm9", vcvtneps2bf16(20, 9), "62 c2 7e 48 72 e1"},
		{"vcvtneps2bf16 ymm1, zmm0", vcvtneps2bf16(1, 0), "62 f2 7e 48 72 c8"},
	}
	for _, tt := range tests {
		code, _, _ := strings.Cut(tt.got, " //")
		var bs []string
		for _, f := range strings.Split(code, "; ") {
			bs = append(bs, strings.TrimPrefix(f, "BYTE $0x"))
		}
		if got := strings.Join(bs, " "); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.intel, got, tt.want)
		}
	}
}

// TestPrefetchDistanceLoaded checks that every kernel that prefetches
// ahead by ·prefetchAhead loads it into the index register before its
// first branch, so that every path into the loop has it. A build that
// loaded it on the zero-C path only left the acc path (the residual
// products) prefetching from whatever the register held.
func TestPrefetchDistanceLoaded(t *testing.T) {
	funcs := strings.Split(string(generate()), "\nTEXT ")
	checked := 0
	for _, f := range funcs[1:] {
		name, _, _ := strings.Cut(f, "(SB)")
		lines := strings.Split(f, "\n")
		regs := map[string]bool{}
		for _, l := range lines {
			l = strings.TrimSpace(l)
			if !strings.HasPrefix(l, "PREFETCHT0 ") || !strings.Contains(l, "(BX)(") {
				continue
			}
			_, idx, _ := strings.Cut(l, "(BX)(")
			reg, _, _ := strings.Cut(idx, "*")
			regs[reg] = true
		}
		for reg := range regs {
			checked++
			loaded := false
			for _, l := range lines {
				l = strings.TrimSpace(l)
				if l == "MOVQ ·prefetchAhead(SB), "+reg {
					loaded = true
					break
				}
				if strings.HasPrefix(l, "J") {
					break
				}
			}
			if !loaded {
				t.Errorf("%s prefetches (BX)(%s*1) but does not load ·prefetchAhead into %s before its first branch", name, reg, reg)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no kernel prefetches ahead: the test checked nothing")
	}
}
