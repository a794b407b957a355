package engine

import (
	"strings"
	"unicode/utf8"
)

// textOut turns a sequence's generated token bytes into text that is safe
// to stream: it never emits half a UTF-8 character, and it holds back any
// tail that could still grow into a stop sequence, so that a stop sequence
// never reaches the client. It is a pure value type with no clock or I/O.
type textOut struct {
	stops   []string
	pending []byte
}

// push adds a token's bytes. It returns the text that is now final, and
// whether a stop sequence was completed (the text then ends just before it).
func (t *textOut) push(b []byte) (string, bool) {
	t.pending = append(t.pending, b...)
	if cut, ok := t.firstStop(); ok {
		out := valid(t.pending[:cut])
		t.pending = t.pending[:0]
		return out, true
	}
	cut := len(t.pending) - t.stopPrefixHeld()
	cut -= incompleteTail(t.pending[:cut])
	out := valid(t.pending[:cut])
	t.pending = append(t.pending[:0], t.pending[cut:]...)
	return out, false
}

// flush returns what is held at the end of the sequence; an incomplete
// character becomes U+FFFD.
func (t *textOut) flush() string {
	out := valid(t.pending)
	t.pending = t.pending[:0]
	return out
}

// firstStop returns the earliest position where a stop sequence starts.
func (t *textOut) firstStop() (int, bool) {
	best, found := 0, false
	for _, s := range t.stops {
		if s == "" {
			continue
		}
		if i := strings.Index(string(t.pending), s); i >= 0 && (!found || i < best) {
			best, found = i, true
		}
	}
	return best, found
}

// stopPrefixHeld returns the length of the longest tail of pending that is
// a proper prefix of some stop sequence.
func (t *textOut) stopPrefixHeld() int {
	held := 0
	for _, s := range t.stops {
		for n := min(len(s)-1, len(t.pending)); n > held; n-- {
			if string(t.pending[len(t.pending)-n:]) == s[:n] {
				held = n
				break
			}
		}
	}
	return held
}

// incompleteTail returns how many bytes at the end of b begin a UTF-8
// character that is not complete yet (0 to 3).
func incompleteTail(b []byte) int {
	for n := 1; n <= 3 && n <= len(b); n++ {
		c := b[len(b)-n]
		if c < 0x80 {
			return 0 // ASCII: complete
		}
		if c >= 0xC0 { // a lead byte
			need := 2
			switch {
			case c >= 0xF0:
				need = 4
			case c >= 0xE0:
				need = 3
			}
			if c >= 0xF8 || need <= n {
				return 0 // invalid lead, or the character is complete
			}
			if utf8.FullRune(b[len(b)-n:]) {
				return 0 // not a prefix of a valid character: emit as U+FFFD
			}
			return n
		}
		// a continuation byte: look further back
	}
	return 0
}

// valid returns b as a string with each invalid byte replaced by U+FFFD,
// so the result does not depend on where the stream was split.
func valid(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}
