package main

import (
	"context"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

// TestRunArguments: `llmbench run` takes its flags before or after the
// script, as k6 does, and refuses a stray argument and an unknown flag
// rather than ignore them.
func TestRunArguments(t *testing.T) {
	tests := []struct {
		args    []string
		wantPos []string
		wantErr string
	}{
		{[]string{"-u", "2", "s.js", "--duration", "1s", "-o", "json=x.json"}, []string{"s.js"}, ""},
		{[]string{"s.js", "other.js"}, nil, "want one script, got 2 arguments"},
		{[]string{"--no-such-flag", "s.js"}, nil, "flag provided but not defined"},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("llmbench run", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		run := cmdRun(context.Background(), fs)
		pos, err := parseArgs(fs, tt.args)
		if err == nil && !slices.Equal(pos, tt.wantPos) && tt.wantErr == "" {
			t.Errorf("%q: positional %q, want %q", tt.args, pos, tt.wantPos)
		}
		if err == nil && tt.wantErr != "" && len(pos) > 1 {
			_, err = run(pos)
		}
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("%q: %v", tt.args, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%q: got %v, want an error containing %q", tt.args, err, tt.wantErr)
		}
	}
}
