package runfmt

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzDecodeRequests: no input may panic the requests.jsonl reader, and
// it yields one item per non-blank line, each a request or an error
// naming its line.
func FuzzDecodeRequests(f *testing.F) {
	f.Add([]byte("{\"seq\":1}\n{\"seq\":2}\n"))
	f.Add([]byte("{\"seq\":1,\"gaps_ms\":[1,2,3],\"tags\":{\"a\":\"b\"}}\nnot json\n\n{\"seq\":"))
	f.Add([]byte(`{"seq":1,"error":"` + strings.Repeat("x", 300) + "\"}\n"))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		want := 0
		for line := range bytes.Lines(in) {
			if !bytes.Equal(line, []byte("\n")) {
				want++
			}
		}
		got := 0
		for r, err := range decodeRequests(bytes.NewReader(in), 256) {
			got++
			if (r == nil) == (err == nil) {
				t.Fatalf("item %d: request %v and error %v, want exactly one", got, r, err)
			}
			if err != nil && !strings.Contains(err.Error(), "requests.jsonl line ") {
				t.Fatalf("item %d: error %q does not name its line", got, err)
			}
		}
		if got != want {
			t.Fatalf("%d items from %d non-blank lines", got, want)
		}
	})
}
