package sse

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// readers are the ways a test feeds its input to a Reader: whole, and split
// across reads in the ways a network connection can split it.
var readers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"one byte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"data with EOF", iotest.DataErrReader},
	{"chunks of 3", func(r io.Reader) io.Reader { return &chunkReader{r: r, sizes: []int{3}} }},
	{"chunks with empty reads", func(r io.Reader) io.Reader { return &chunkReader{r: r, sizes: []int{0, 1, 0, 7, 2}} }},
}

// chunkReader returns reads of the given sizes in turn (0: an empty read
// with no error).
type chunkReader struct {
	r     io.Reader
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	n := c.sizes[c.i%len(c.sizes)]
	c.i++
	if n == 0 {
		return 0, nil
	}
	return c.r.Read(p[:min(n, len(p))])
}

// readAll returns every event of r and the error that ended the stream
// (nil for io.EOF).
func readAll(r *Reader) ([]Event, error) {
	var evs []Event
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []Event
	}{
		{"empty", "", nil},
		{"one event", "data: hello\n\n", []Event{{Data: "hello"}}},
		{"two events", "data: a\n\ndata: b\n\n", []Event{{Data: "a"}, {Data: "b"}}},
		{"multi-line data", "data: a\ndata: b\ndata:\n\n", []Event{{Data: "a\nb\n"}}},
		{"only one space removed", "data:  two spaces\n\n", []Event{{Data: " two spaces"}}},
		{"no space", "data:x\n\n", []Event{{Data: "x"}}},
		{"colon in value", "data: {\"a\": 1}\n\n", []Event{{Data: `{"a": 1}`}}},
		{"field without colon", "data\n\n", []Event{{Data: ""}}},
		{"comment ignored", ": keep-alive\ndata: x\n: another\n\n", []Event{{Data: "x"}}},
		{"comment only", ": ping\n\n", nil},
		{"event type", "event: error\ndata: x\n\n", []Event{{Event: "error", Data: "x"}}},
		{"event type resets", "event: a\ndata: 1\n\ndata: 2\n\n", []Event{{Event: "a", Data: "1"}, {Data: "2"}}},
		{"event type without data resets", "event: a\n\ndata: 2\n\n", []Event{{Data: "2"}}},
		{"id persists", "id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n", []Event{{ID: "7", Data: "a"}, {ID: "7", Data: "b"}, {ID: "", Data: "c"}}},
		{"id with NUL ignored", "id: 1\n\nid: a\x00b\ndata: x\n\n", []Event{{ID: "1", Data: "x"}}},
		{"retry", "retry: 1500\ndata: x\n\n", []Event{{Data: "x", Retry: 1500 * time.Millisecond}}},
		{"retry persists", "retry: 10\n\ndata: x\n\n", []Event{{Data: "x", Retry: 10 * time.Millisecond}}},
		{"bad retry ignored", "retry: 10\nretry: 1x\nretry: -5\nretry:\nretry: 99999999999999999999\ndata: x\n\n", []Event{{Data: "x", Retry: 10 * time.Millisecond}}},
		{"unknown field ignored", "foo: bar\ndata: x\n\n", []Event{{Data: "x"}}},
		{"field names are case-sensitive", "Data: x\n\n", nil},
		{"CRLF", "data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n", []Event{{Data: "a\nb"}, {Data: "c"}}},
		{"lone CR", "data: a\rdata: b\r\rdata: c\r\r", []Event{{Data: "a\nb"}, {Data: "c"}}},
		{"mixed endings", "data: a\r\ndata: b\rdata: c\n\r\n", []Event{{Data: "a\nb\nc"}}},
		{"CR CR LF is two lines", "data: a\r\r\ndata: b\n\n", []Event{{Data: "a"}, {Data: "b"}}},
		{"BOM", "\xEF\xBB\xBFdata: x\n\n", []Event{{Data: "x"}}},
		{"BOM only at start", "data: x\n\n\xEF\xBB\xBFdata: y\n\n", []Event{{Data: "x"}}},
		{"two BOMs", "\xEF\xBB\xBF\xEF\xBB\xBFdata: y\n\n", nil},
		{"BOM prefix alone", "\xEF\xBB", nil},
		{"not a BOM", "\xEFdata: x\n\n", nil},
		{"empty data line dispatched", "data:\n\n", []Event{{Data: ""}}},
		{"blank lines only", "\n\n\r\n\r", nil},
		// The deliberate deviation: a pending event is dispatched at EOF.
		{"EOF without final newline", "data: a\n\ndata: [DONE]", []Event{{Data: "a"}, {Data: "[DONE]"}}},
		{"EOF without blank line", "data: [DONE]\n", []Event{{Data: "[DONE]"}}},
		{"EOF after CR", "data: [DONE]\r", []Event{{Data: "[DONE]"}}},
		{"EOF with event but no data", "event: x\n", nil},
		{"invalid UTF-8 passed through", "data: \xff\xfe\n\n", []Event{{Data: "\xff\xfe"}}},
		{"openai stream", "data: {\"choices\":[]}\n\ndata: [DONE]\n\n", []Event{{Data: `{"choices":[]}`}, {Data: "[DONE]"}}},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				got, err := readAll(NewReader(rd.wrap(strings.NewReader(tt.input))))
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got %q, want %q", got, tt.want)
				}
			})
		}
	}
}

func TestReaderLimit(t *testing.T) {
	tests := []struct {
		name   string
		input  string
		max    int
		want   []Event // before the error
		errSub string  // "" for no error
	}{
		{"line at the limit", "data:12345\n\n", 10, []Event{{Data: "12345"}}, ""},
		{"line over the limit", "data: ok\n\ndata:123456\n\n", 10, []Event{{Data: "ok"}}, "line over 10 bytes"},
		{"unterminated line over the limit", "data:123456", 10, nil, "line over 10 bytes"},
		{"long comment over the limit", ":12345678901\ndata: x\n\n", 10, nil, "line over 10 bytes"},
		{"event data at the limit", "data:1234\ndata:1234\n\n", 10, []Event{{Data: "1234\n1234"}}, ""},
		{"event data over the limit", "data:12345\ndata:12345\n\n", 10, nil, "event data over 10 bytes"},
		{"data limit per event", "data:1234\n\ndata:1234\n\n", 10, []Event{{Data: "1234"}, {Data: "1234"}}, ""},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				r := NewReaderSize(rd.wrap(strings.NewReader(tt.input)), tt.max)
				got, err := readAll(r)
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got events %q, want %q", got, tt.want)
				}
				if tt.errSub == "" {
					if err != nil {
						t.Fatalf("got error %v, want none", err)
					}
					return
				}
				if err == nil || !errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), tt.errSub) {
					t.Fatalf("got error %v, want one wrapping ErrTooLong with %q", err, tt.errSub)
				}
				if _, err2 := r.Next(); err2 != err {
					t.Errorf("got %v on the next call, want the same error %v", err2, err)
				}
			})
		}
	}
}

func TestReaderDefaultLimit(t *testing.T) {
	long := "data: " + strings.Repeat("x", DefaultMaxSize) + "\n\n"
	_, err := readAll(NewReader(strings.NewReader(long)))
	if !errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), fmt.Sprint(DefaultMaxSize)) {
		t.Fatalf("got %v, want ErrTooLong naming %d", err, DefaultMaxSize)
	}
	ok := "data: " + strings.Repeat("x", DefaultMaxSize-6) + "\n\n"
	evs, err := readAll(NewReader(strings.NewReader(ok)))
	if err != nil || len(evs) != 1 || len(evs[0].Data) != DefaultMaxSize-6 {
		t.Fatalf("got %d events, error %v; want one event of %d bytes", len(evs), err, DefaultMaxSize-6)
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("connection reset")
	tests := []struct {
		name  string
		input string
		want  []Event
	}{
		{"after complete events", "data: a\n\ndata: b\n\n", []Event{{Data: "a"}, {Data: "b"}}},
		{"pending event is dropped", "data: a\n\ndata: b\n", []Event{{Data: "a"}}},
		{"partial line is dropped", "data: a\n\ndata: [DO", []Event{{Data: "a"}}},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				in := io.MultiReader(strings.NewReader(tt.input), iotest.ErrReader(boom))
				r := NewReader(rd.wrap(in))
				got, err := readAll(r)
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got events %q, want %q", got, tt.want)
				}
				if !errors.Is(err, boom) || err == boom || !strings.Contains(err.Error(), "read event stream") {
					t.Fatalf("got error %v, want %v wrapped", err, boom)
				}
			})
		}
	}
}

func TestReaderNoProgress(t *testing.T) {
	r := NewReader(&chunkReader{r: strings.NewReader("data: x\n\n"), sizes: []int{0}})
	_, err := r.Next()
	if !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("got %v, want io.ErrNoProgress", err)
	}
}

func TestReaderTimeoutReader(t *testing.T) {
	// iotest.TimeoutReader fails its second read: the first event, whole
	// in the first read, comes back before the error.
	r := NewReader(iotest.TimeoutReader(strings.NewReader("data: a\n\ndata: b")))
	got, err := readAll(r)
	if want := []Event{{Data: "a"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if !errors.Is(err, iotest.ErrTimeout) {
		t.Errorf("got %v, want iotest.ErrTimeout wrapped", err)
	}
}

func TestReaderIncremental(t *testing.T) {
	// Next returns an event as soon as its blank line has arrived, without
	// waiting for more input: a live stream must not stall.
	pr, pw := io.Pipe()
	defer pr.Close()
	r := NewReader(pr)
	got := make(chan Event)
	go func() { // owned by this test: ends when the pipe is closed
		defer close(got)
		for {
			ev, err := r.Next()
			if err != nil {
				return
			}
			got <- ev
		}
	}()
	steps := []struct {
		chunk string
		want  string // the event this chunk completes; "" for none
	}{
		{"\xEF\xBB\xBFdata: 0\n\n", "0"},
		{"data", ""},
		{": 1\r", ""},
		{"\r", "1"}, // a lone CR after a CR is a blank line
		{"data: 2\r\n\r\n", "2"},
	}
	for i, s := range steps {
		if _, err := pw.Write([]byte(s.chunk)); err != nil {
			t.Fatal(err)
		}
		if s.want == "" {
			continue
		}
		select {
		case ev := <-got:
			if ev.Data != s.want {
				t.Fatalf("after chunk %d got %q, want %q", i, ev.Data, s.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("after chunk %d got no event, want %q: Next waits for input it does not need", i, s.want)
		}
	}
	pw.Close()
	if ev, ok := <-got; ok {
		t.Fatalf("got %q after the end, want none", ev)
	}
}

func ExampleReader() {
	stream := "data: {\"text\": \"Hello\"}\n\n: a comment\ndata: {\"text\": \" world\"}\n\ndata: [DONE]\n\n"
	r := NewReader(strings.NewReader(stream))
	for {
		ev, err := r.Next()
		if err != nil {
			break // io.EOF at the end
		}
		fmt.Println(ev.Data)
	}
	// Output:
	// {"text": "Hello"}
	// {"text": " world"}
	// [DONE]
}
