package llm

// chunkedEnd is an rxstamp.Ender for an HTTP/1.1 chunked body without
// trailers: the body ends with the CRLF after its last chunk (or after the
// response head), then the zero-length chunk. It keeps only the last
// bytes noted.
type chunkedEnd struct {
	tail [len(chunkedEndMark)]byte
	n    int
}

// chunkedEndMark is how a chunked body without trailers ends.
const chunkedEndMark = "\r\n0\r\n\r\n"

// Note implements rxstamp.Ender.
func (e *chunkedEnd) Note(p []byte) {
	if len(p) >= len(e.tail) {
		e.n = copy(e.tail[:], p[len(p)-len(e.tail):])
		return
	}
	keep := min(e.n, len(e.tail)-len(p))
	copy(e.tail[:], e.tail[e.n-keep:e.n])
	e.n = keep + copy(e.tail[keep:], p)
}

// Ended implements rxstamp.Ender.
func (e *chunkedEnd) Ended() bool {
	return e.n == len(e.tail) && string(e.tail[:]) == chunkedEndMark
}
