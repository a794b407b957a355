package runfmt

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"sync"

	"github.com/llmbench/llmbench/internal/jsonerr"
)

// RequestLog appends Request lines to requests.jsonl. Each Append writes one
// whole line with a single write call, so a crash or Ctrl-C leaves every
// completed request on disk. A write that fails part-way (a full disk) is
// cut off again, so the file never holds part of a line. It is safe for
// concurrent use.
type RequestLog struct {
	mu   sync.Mutex
	f    *os.File
	seq  int64
	size int64 // bytes of whole lines written
	buf  []byte

	failed   int64 // appends that could not be written
	firstErr error // the first of them
}

// CreateRequestLog creates (or truncates) dir/requests.jsonl.
func CreateRequestLog(dir string) (*RequestLog, error) {
	f, err := os.OpenFile(filepath.Join(dir, RequestsFile), os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create request log: %w", err)
	}
	return &RequestLog{f: f}, nil
}

// Append numbers r (r.Seq) and writes it as one line.
func (l *RequestLog) Append(r *Request) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("append request: log closed")
	}
	l.seq++
	r.Seq = l.seq
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("append request %d: %w", r.Seq, err)
	}
	l.buf = append(append(l.buf[:0], b...), '\n')
	if _, err := l.f.Write(l.buf); err != nil {
		// A short write (ENOSPC after some bytes) leaves part of a line;
		// remove it, so that the lines after it, if any, stay whole.
		l.f.Truncate(l.size)
		err = fmt.Errorf("append request %d: %w", r.Seq, err)
		l.failed++
		if l.firstErr == nil {
			l.firstErr = err
		}
		return err
	}
	l.size += int64(len(l.buf))
	return nil
}

// Failed returns how many appends could not be written, and the first
// one's error.
func (l *RequestLog) Failed() (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed, l.firstErr
}

// Count is the number of lines appended so far.
func (l *RequestLog) Count() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

// Close syncs and closes the file. Appends after Close fail.
func (l *RequestLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// Requests reads dir/requests.jsonl line by line. A malformed line yields an
// error that names its line number, and reading goes on with the next line,
// so one bad line costs one request, not the run. A final line without its
// newline (a write cut short) is reported the same way.
func Requests(dir string) iter.Seq2[*Request, error] {
	return func(yield func(*Request, error) bool) {
		path := filepath.Join(dir, RequestsFile)
		f, err := openRegular(path)
		if err != nil {
			yield(nil, fmt.Errorf("read %s: %w", path, err))
			return
		}
		defer f.Close()
		for r, err := range DecodeRequests(f) {
			if !yield(r, err) {
				return
			}
		}
	}
}

// MaxRequestLine bounds one line of requests.jsonl. The load generator
// writes far less (a server's error text is cut at 1 KiB, and a 100,000
// token stream's gaps take about 1 MiB); a longer line is skipped, not
// held in memory, and reported with its line number.
const MaxRequestLine = 16 << 20

// DecodeRequests reads requests.jsonl lines from rd; see Requests.
func DecodeRequests(rd io.Reader) iter.Seq2[*Request, error] {
	return decodeRequests(rd, MaxRequestLine)
}

func decodeRequests(rd io.Reader, maxLine int) iter.Seq2[*Request, error] {
	return func(yield func(*Request, error) bool) {
		br := bufio.NewReaderSize(rd, 64<<10)
		var buf []byte
		for line := 1; ; line++ {
			b, n, err := readLine(br, buf[:0], maxLine)
			buf = b[:0]
			if n == 0 && err == io.EOF {
				return
			}
			if err != nil && err != io.EOF {
				yield(nil, fmt.Errorf("read requests line %d: %w", line, err))
				return
			}
			switch {
			case n > maxLine:
				if !yield(nil, fmt.Errorf("requests.jsonl line %d: %d bytes, over the %d-byte bound on a request's line: skipped", line, n, maxLine)) {
					return
				}
			case n == 1 && b[0] == '\n':
			default:
				var r Request
				if jerr := json.Unmarshal(b, &r); jerr != nil {
					// A line cut short (a run killed mid-write) says so;
					// other errors are encoding/json's, within the line.
					if d := jsonerr.Describe(b, jerr); errors.Is(d, jsonerr.ErrEndsEarly) {
						jerr = d
					}
					if !yield(nil, fmt.Errorf("requests.jsonl line %d: %w", line, jerr)) {
						return
					}
				} else if !yield(&r, nil) {
					return
				}
			}
			if err == io.EOF {
				return
			}
		}
	}
}

// readLine appends the next line of br, newline included, to buf and
// returns it with the line's length. A line longer than maxLine is read to
// its end but not kept: its length is returned beside what was kept.
func readLine(br *bufio.Reader, buf []byte, maxLine int) ([]byte, int, error) {
	n := 0
	for {
		chunk, err := br.ReadSlice('\n')
		n += len(chunk)
		if n <= maxLine {
			buf = append(buf, chunk...)
		}
		if err != bufio.ErrBufferFull {
			return buf, n, err
		}
	}
}
