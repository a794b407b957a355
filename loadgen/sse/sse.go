// Package sse parses Server-Sent Events (the text/event-stream format) as
// the WHATWG HTML standard defines them, for clients that read streamed LLM
// answers. It imports nothing else from the repository.
//
// A Reader follows the standard's parsing rules: "data", "event", "id" and
// "retry" fields; several data lines joined with "\n"; comment lines that
// start with ":"; "field:value" with one optional space after the colon
// removed; a line without a colon is a field with an empty value; CRLF, LF
// and lone CR line endings; a byte order mark at the start of the stream is
// skipped. It differs from the standard on purpose in three ways:
//
//   - At the end of the stream, a pending event that has data but no
//     terminating blank line (for example "data: [DONE]" with no final
//     newline) is dispatched, not discarded. Servers that forget the last
//     newline are common, and losing their end marker would make a finished
//     stream look truncated.
//   - Bytes are not decoded: invalid UTF-8 is passed through unchanged
//     instead of being replaced with U+FFFD. (encoding/json replaces it when
//     the data is decoded.)
//   - Memory is bounded: a line, or one event's data, longer than the
//     Reader's limit (DefaultMaxSize unless NewReaderSize says otherwise)
//     is an error wrapping ErrTooLong.
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// DefaultMaxSize is the longest line, and the longest data of one event,
// that NewReader accepts: 4 MiB.
const DefaultMaxSize = 4 << 20

// ErrTooLong is wrapped by the error Next returns for a line or an event's
// data longer than the Reader's limit.
var ErrTooLong = errors.New("too long")

// Event is one dispatched event.
type Event struct {
	// Event is the event type from the "event" field; "" when the stream
	// gave none (the standard calls that type "message").
	Event string
	// Data is the event's data lines joined with "\n".
	Data string
	// ID is the last event ID: the value of the latest "id" field so far in
	// the stream, which persists across events as the standard says.
	ID string
	// Retry is the reconnection time last set by a "retry" field in the
	// stream; 0 if none has been.
	Retry time.Duration
}

// Reader reads events from an event stream. It buffers its input, so it
// may read past the event it returns. A Reader is not safe for concurrent
// use.
type Reader struct {
	r   io.Reader
	max int

	buf        []byte // buf[start:end] is read but not yet parsed
	start, end int
	scanned    int   // buf[start:start+scanned] holds no line ending
	err        error // the first error from r, io.EOF included; sticky
	bomChecked bool  // the start of the stream has been checked for a BOM
	skipLF     bool  // the last line ended with CR: a following LF belongs to it

	data    []byte // the data buffer, each line followed by "\n"
	event   string // the event type buffer
	lastID  string
	retry   time.Duration
	failure error // a parse error (too long); sticky
}

// NewReader returns a Reader of r that accepts lines and event data up to
// DefaultMaxSize bytes.
func NewReader(r io.Reader) *Reader { return NewReaderSize(r, DefaultMaxSize) }

// NewReaderSize returns a Reader of r that accepts lines, and the data of
// one event, up to max bytes (line endings not counted). A max below 1
// means DefaultMaxSize.
func NewReaderSize(r io.Reader, max int) *Reader {
	if max < 1 {
		max = DefaultMaxSize
	}
	return &Reader{r: r, max: max, buf: make([]byte, min(4096, max+1))}
}

// Next returns the next dispatched event. It returns io.EOF, unwrapped,
// when the stream ends cleanly after the last event (a pending event with
// data is dispatched first, see the package comment). A read error other
// than io.EOF is returned wrapped, after the events completed before it;
// a line or event data over the limit gives an error wrapping ErrTooLong.
// Once Next has returned an error it returns the same error again.
func (r *Reader) Next() (Event, error) {
	if r.failure != nil {
		return Event{}, r.failure
	}
	for {
		line, err := r.line()
		if err != nil {
			if err == io.EOF {
				if ev, ok := r.dispatch(); ok {
					return ev, nil
				}
				return Event{}, io.EOF
			}
			r.failure = err
			return Event{}, err
		}
		if len(line) == 0 {
			if ev, ok := r.dispatch(); ok {
				return ev, nil
			}
			continue
		}
		if err := r.field(line); err != nil {
			r.failure = err
			return Event{}, err
		}
	}
}

// dispatch ends the current event: it returns it when it has data, and
// resets the data and event type buffers either way.
func (r *Reader) dispatch() (Event, bool) {
	if len(r.data) == 0 {
		r.event = ""
		return Event{}, false
	}
	ev := Event{Event: r.event, Data: string(r.data[:len(r.data)-1]), ID: r.lastID, Retry: r.retry}
	r.data, r.event = r.data[:0], ""
	return ev, true
}

// field processes one non-empty line.
func (r *Reader) field(line []byte) error {
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i == 0 {
		return nil // a comment
	} else if i > 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if len(r.data)+len(value) > r.max {
			return fmt.Errorf("sse: event data over %d bytes: %w", r.max, ErrTooLong)
		}
		r.data = append(r.data, value...)
		r.data = append(r.data, '\n')
	case "event":
		r.event = string(value)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			r.lastID = string(value)
		}
	case "retry":
		if ms, ok := digits(value); ok {
			r.retry = time.Duration(ms) * time.Millisecond
		}
	}
	return nil
}

// digits parses a retry value: ASCII digits only. Values too large for a
// time.Duration are ignored, as a value with other characters is.
func digits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	ms, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || ms > int64(1<<63-1)/int64(time.Millisecond) {
		return 0, false
	}
	return ms, true
}

// line returns the next line without its ending. The slice is valid until
// the next call. At the end of the stream a last line without an ending is
// returned before io.EOF.
func (r *Reader) line() ([]byte, error) {
	for {
		if !r.bomChecked {
			// Decide as soon as the bytes so far can no longer be, or must
			// be, a BOM.
			rest := r.buf[r.start:r.end]
			if len(rest) >= len(bom) || r.err != nil || !bytes.HasPrefix(bom, rest) {
				r.bomChecked = true
				if bytes.HasPrefix(rest, bom) {
					r.start += len(bom)
				}
			}
		}
		if r.bomChecked {
			if r.skipLF && r.start < r.end {
				r.skipLF = false
				if r.buf[r.start] == '\n' {
					r.start++
				}
			}
			rest := r.buf[r.start:r.end]
			if i := bytes.IndexAny(rest[r.scanned:], "\r\n"); i >= 0 {
				i += r.scanned
				if i > r.max {
					return nil, r.tooLong()
				}
				r.skipLF = rest[i] == '\r'
				r.start += i + 1
				r.scanned = 0
				return rest[:i], nil
			}
			// Remember how far there is no line ending, so a long line
			// arriving in small reads is scanned once, not once a read.
			r.scanned = len(rest)
			if len(rest) > r.max {
				return nil, r.tooLong()
			}
			if r.err != nil {
				if r.err == io.EOF && len(rest) > 0 {
					r.start, r.scanned = r.end, 0
					return rest, nil
				}
				return nil, r.err
			}
		}
		r.fill()
	}
}

var bom = []byte("\xEF\xBB\xBF")

func (r *Reader) tooLong() error {
	return fmt.Errorf("sse: line over %d bytes: %w", r.max, ErrTooLong)
}

// maxEmptyReads is how many reads in a row may return no data and no
// error before the Reader gives up with io.ErrNoProgress.
const maxEmptyReads = 100

// fill reads once more into the buffer, making room first. It records a
// read error in r.err.
func (r *Reader) fill() {
	if r.start > 0 {
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
	}
	if r.end == len(r.buf) {
		// line checks that the buffer holds at most max bytes without a
		// line ending, so it never grows past max+1.
		nb := make([]byte, min(2*len(r.buf), r.max+1))
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	for range maxEmptyReads {
		n, err := r.r.Read(r.buf[r.end:])
		if n < 0 || n > len(r.buf)-r.end {
			r.err = fmt.Errorf("read event stream: %w", errors.New("invalid read count"))
			return
		}
		r.end += n
		if err != nil {
			if err != io.EOF {
				err = fmt.Errorf("read event stream: %w", err)
			}
			r.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.err = fmt.Errorf("read event stream: %w", io.ErrNoProgress)
}
