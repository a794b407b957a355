package refserver

import (
	"flag"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestApplyEnv(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"default", nil, nil, "127.0.0.1:8000 8 1s", ""},
		{"from the environment", nil, map[string]string{"REFSERVER_ADDR": "127.0.0.1:9", "REFSERVER_MAX_BATCH": "3"}, "127.0.0.1:9 3 1s", ""},
		{"the command line wins", []string{"--max-batch", "5"}, map[string]string{"REFSERVER_MAX_BATCH": "3"}, "127.0.0.1:8000 5 1s", ""},
		{"a duration", nil, map[string]string{"REFSERVER_DRAIN_TIMEOUT": "2m"}, "127.0.0.1:8000 8 2m0s", ""},
		{"a bad value names the variable", nil, map[string]string{"REFSERVER_MAX_BATCH": "lots"}, "", `$REFSERVER_MAX_BATCH="lots"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			addr := fs.String("addr", "127.0.0.1:8000", "listen address")
			batch := fs.Int("max-batch", 8, "batch")
			drain := fs.Duration("drain-timeout", time.Second, "drain")
			DescribeEnv(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := ApplyEnv(fs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := *addr + " " + itoa(*batch) + " " + drain.String()
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if u := fs.Lookup("max-batch").Usage; !strings.Contains(u, "[$REFSERVER_MAX_BATCH]") {
				t.Errorf("usage %q does not name its variable", u)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
