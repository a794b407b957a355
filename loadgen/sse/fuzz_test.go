package sse

import (
	"bytes"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// FuzzReader checks the Reader's invariants on any input: it does not
// panic; its events and final error do not depend on how the input is split
// across reads; its buffers stay within the limit; and with a limit that
// does not bite, it agrees with reference, a direct transcription of the
// standard's rules over the whole input.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"",
		"data: hello\n\n",
		"data: a\ndata: b\n\ndata: [DONE]",
		"\xEF\xBB\xBFevent: e\r\nid: 1\r\nretry: 20\r\ndata: x\r\n\r\n",
		"data: a\r\rdata: b\r\n\r\n:comment\n\n",
		"data\n\nid: \x00\ndata:\n\n",
		"data: {\"text\": \" the\", \"token_ids\": [262]}\n\ndata: {\"done\": true}\n\ndata: [DONE]\n\n",
		"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
		"retry: 99999999999999999999\n\n",
		"\xEF\xBB",
		strings.Repeat("x", 80) + "\n\ndata: after\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const small = 32
		whole, wholeErr := readAll(NewReaderSize(bytes.NewReader(in), small))
		for _, rd := range readers[1:] {
			got, err := readAll(NewReaderSize(rd.wrap(bytes.NewReader(in)), small))
			if !reflect.DeepEqual(got, whole) {
				t.Fatalf("%s: got events %q, want %q as from one read", rd.name, got, whole)
			}
			if (err == nil) != (wholeErr == nil) || (err != nil && err.Error() != wholeErr.Error()) {
				t.Fatalf("%s: got error %v, want %v as from one read", rd.name, err, wholeErr)
			}
		}
		if wholeErr != nil && !errors.Is(wholeErr, ErrTooLong) {
			t.Fatalf("got error %v, want none or ErrTooLong", wholeErr)
		}
		for _, ev := range whole {
			if len(ev.Data) > small || len(ev.Event) > small || len(ev.ID) > small {
				t.Fatalf("got an event over the %d-byte limit: %q", small, ev)
			}
		}

		// Bounded memory: the buffer never grows past the limit.
		r := NewReaderSize(iotest.HalfReader(bytes.NewReader(in)), small)
		for {
			_, err := r.Next()
			if len(r.buf) > small+1 || cap(r.data) > 4*small {
				t.Fatalf("got buffers of %d and %d bytes, want at most %d and %d", len(r.buf), cap(r.data), small+1, 4*small)
			}
			if err != nil {
				break
			}
		}

		big, err := readAll(NewReaderSize(iotest.OneByteReader(bytes.NewReader(in)), len(in)+1))
		if err != nil {
			t.Fatalf("got error %v with a limit over the input, want none", err)
		}
		if want := reference(in); !reflect.DeepEqual(big, want) {
			t.Fatalf("got %q, want %q from the reference parser", big, want)
		}
	})
}

// reference parses a whole event stream by the standard's rules, with the
// package's deliberate deviation (a pending event is dispatched at the end).
func reference(in []byte) []Event {
	s := strings.TrimPrefix(string(in), "\xEF\xBB\xBF")
	var lines []string
	for s != "" {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			lines = append(lines, s)
			break
		}
		lines = append(lines, s[:i])
		if strings.HasPrefix(s[i:], "\r\n") {
			i++
		}
		s = s[i+1:]
	}
	lines = append(lines, "") // the end dispatches what is pending

	var evs []Event
	var data strings.Builder
	var typ, id string
	var hasData bool
	var retry time.Duration
	for _, line := range lines {
		if line == "" {
			if hasData {
				evs = append(evs, Event{Event: typ, Data: strings.TrimSuffix(data.String(), "\n"), ID: id, Retry: retry})
			}
			data.Reset()
			typ, hasData = "", false
			continue
		}
		if line[0] == ':' {
			continue
		}
		name, value, found := strings.Cut(line, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch name {
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
			hasData = true
		case "event":
			typ = value
		case "id":
			if !strings.Contains(value, "\x00") {
				id = value
			}
		case "retry":
			if value != "" && strings.Trim(value, "0123456789") == "" {
				if ms, err := strconv.ParseInt(value, 10, 64); err == nil && ms <= int64(1<<63-1)/int64(time.Millisecond) {
					retry = time.Duration(ms) * time.Millisecond
				}
			}
		}
	}
	return evs
}
