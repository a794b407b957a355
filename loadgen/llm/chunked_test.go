package llm

import (
	"strings"
	"testing"
)

// TestChunkedEnd: the end of a chunked body is seen however the bytes
// are cut into reads, and not inside a chunk that merely holds a zero.
func TestChunkedEnd(t *testing.T) {
	body := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n0\r\n0\r\n\r\n"
	for cut := 1; cut <= len(body); cut++ {
		var e chunkedEnd
		var ended []int
		for i := 0; i < len(body); i += cut {
			e.Note([]byte(body[i:min(i+cut, len(body))]))
			if e.Ended() {
				ended = append(ended, min(i+cut, len(body)))
			}
		}
		if len(ended) != 1 || ended[0] != len(body) {
			t.Errorf("reads of %d bytes: ended after %v bytes, want only at the end (%d)", cut, ended, len(body))
		}
	}
	var e chunkedEnd
	e.Note([]byte("3\r\nabc\r\n"))
	if e.Ended() {
		t.Error("ended inside the body")
	}
	e.Note([]byte(strings.Repeat("x", 100) + "\r\n0\r\n\r\n"))
	if !e.Ended() {
		t.Error("did not end at the zero-length chunk")
	}
}
