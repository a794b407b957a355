package executor

import (
	"math/big"
	"slices"
	"strings"
	"testing"
)

func TestParseSegment(t *testing.T) {
	tests := []struct {
		name, segment, sequence string
		want                    string // String(); "" when an error is wanted
		wantErr                 string
	}{
		{name: "whole", want: "0:1"},
		{name: "fractions", segment: "1/3:2/3", want: "1/3:2/3"},
		{name: "decimals", segment: "0:0.5", want: "0:1/2"},
		{name: "percentages", segment: "50%:100%", want: "1/2:1"},
		{name: "end only", segment: "1/4", want: "0:1/4"},
		{name: "in sequence", segment: "0.1:0.5", sequence: "0,0.1,0.5,1", want: "1/10:1/2"},
		{name: "sequence without segment", sequence: "0,1/3,2/3,1", want: "0:1"},
		{name: "not in sequence", segment: "0:1/2", sequence: "0,1/3,2/3,1", wantErr: "not a segment of sequence"},
		{name: "backwards", segment: "2/3:1/3", wantErr: "start must be less than end"},
		{name: "empty range", segment: "1/3:1/3", wantErr: "start must be less than end"},
		{name: "above one", segment: "0:3/2", wantErr: "must be between 0 and 1"},
		{name: "negative", segment: "-1/2:1", wantErr: "must be between 0 and 1"},
		{name: "garbage", segment: "a:b", wantErr: "bad value"},
		{name: "sequence not from 0", segment: "", sequence: "1/3,1", wantErr: "must start at 0 and end at 1"},
		{name: "sequence not increasing", sequence: "0,1/2,1/3,1", wantErr: "values must increase"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSegment(tt.segment, tt.sequence)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if got := s.Sequence(); got != tt.sequence {
				t.Errorf("got sequence %q, want %q", got, tt.sequence)
			}
		})
	}
}

// sequenceSegments parses every segment of a sequence.
func sequenceSegments(t *testing.T, sequence string) []Segment {
	t.Helper()
	parts := strings.Split(sequence, ",")
	var segs []Segment
	for i := 0; i+1 < len(parts); i++ {
		s, err := ParseSegment(parts[i]+":"+parts[i+1], sequence)
		if err != nil {
			t.Fatal(err)
		}
		segs = append(segs, s)
	}
	return segs
}

var testSequences = []string{"0,1/3,2/3,1", "0,0.1,0.5,1", "0,1/7,50%,0.9,1", "0,1"}

// TestSegmentScaleAddsUp checks that the segments of a sequence split any
// count exactly, own disjoint numbers, and each stays under its share + 1.
func TestSegmentScaleAddsUp(t *testing.T) {
	for _, seq := range testSequences {
		t.Run(seq, func(t *testing.T) {
			segs := sequenceSegments(t, seq)
			for n := int64(0); n <= 300; n++ {
				var sum int64
				var all []int64
				for _, s := range segs {
					c := s.Scale(n)
					sum += c
					owned := s.owned(n)
					if int64(len(owned)) != c {
						t.Fatalf("segment %s, n=%d: got %d owned, want Scale %d", s, n, len(owned), c)
					}
					all = append(all, owned...)
					// c < n×length + 1
					length := new(big.Rat).Sub(s.to, s.from)
					bound := new(big.Rat).Add(new(big.Rat).Mul(length, new(big.Rat).SetInt64(n)), big.NewRat(1, 1))
					if new(big.Rat).SetInt64(c).Cmp(bound) >= 0 {
						t.Fatalf("segment %s, n=%d: got %d, want less than %s", s, n, c, bound.RatString())
					}
				}
				if sum != n {
					t.Fatalf("n=%d: segments add up to %d, want %d", n, sum, n)
				}
				slices.Sort(all)
				for i, v := range all {
					if v != int64(i) {
						t.Fatalf("n=%d: owned numbers %v, want each of 0..%d once", n, all, n-1)
					}
				}
			}
		})
	}
}

func TestSegmentScaleLarge(t *testing.T) {
	segs := sequenceSegments(t, "0,0.1,0.5,1")
	want := []int64{100_000_000, 400_000_000, 500_000_000}
	var sum int64
	for i, s := range segs {
		if got := s.Scale(1_000_000_000); got != want[i] {
			t.Errorf("segment %s: got %d, want %d", s, got, want[i])
		}
		sum += s.Scale(1_000_000_007)
	}
	if sum != 1_000_000_007 {
		t.Errorf("got a sum of %d, want 1000000007", sum)
	}
	if got := (Segment{}).Scale(12); got != 12 {
		t.Errorf("whole segment: got %d, want 12", got)
	}
}

func FuzzParseSegment(f *testing.F) {
	f.Add("1/3:2/3", "0,1/3,2/3,1")
	f.Add("0:0.5", "")
	f.Add("50%:100%", "0,50%,1")
	f.Fuzz(func(t *testing.T, segment, sequence string) {
		s, err := ParseSegment(segment, sequence)
		if err != nil {
			return
		}
		if n := s.Scale(1000); n < 0 || n > 1000 {
			t.Fatalf("Scale(1000) = %d, want within [0, 1000]", n)
		}
	})
}
