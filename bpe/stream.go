package bpe

import (
	"strings"
	"unicode/utf8"
)

// StreamDecoder turns a stream of token ids into text pieces that never
// split a UTF-8 character: a token may end inside a character, and its
// bytes are held until the character completes.
//
// The output is always valid UTF-8. Bytes that can never become part of a
// valid character (0xFF, a continuation byte without a lead byte, a lead
// byte followed by a byte that cannot continue it) are replaced by U+FFFD
// as soon as they are seen, one U+FFFD per maximal invalid subpart as the
// Unicode standard recommends; so are bytes still held at [StreamDecoder.Flush].
// For ids whose bytes form valid UTF-8, the concatenated output equals
// [Tokenizer.Decode] of the ids.
//
// A StreamDecoder is not safe for concurrent use. Its zero value is not
// usable; get one from [Tokenizer.NewStreamDecoder].
type StreamDecoder struct {
	t    *Tokenizer
	held [utf8.UTFMax - 1]byte // the start of an incomplete character
	n    int                   // bytes used in held
}

// NewStreamDecoder returns a StreamDecoder for ids of t.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{t: t}
}

// Add takes the next id of the stream and returns the text it completes,
// which may be "". It holds at most 3 bytes of an incomplete character.
// An id out of range ends any held character, which becomes U+FFFD, and
// is itself decoded as U+FFFD.
func (d *StreamDecoder) Add(id int) string {
	if id < 0 || id >= len(d.t.tokens) {
		return d.Flush() + string(utf8.RuneError)
	}
	tok := d.t.tokens[id]
	if d.n == 0 {
		// Fast path: the token alone ends on a character boundary.
		if utf8.Valid(tok) {
			return string(tok)
		}
		return d.decode(tok)
	}
	buf := make([]byte, 0, d.n+len(tok))
	buf = append(buf, d.held[:d.n]...)
	buf = append(buf, tok...)
	d.n = 0
	return d.decode(buf)
}

// Flush returns the text held at the end of the stream: U+FFFD if an
// incomplete character is held, else "". The decoder is then empty and can
// take a new stream.
func (d *StreamDecoder) Flush() string {
	if d.n == 0 {
		return ""
	}
	d.n = 0
	return string(utf8.RuneError)
}

// decode returns the text of b up to its last character boundary,
// replacing invalid bytes, and holds the incomplete character that b ends
// with, if any. d must hold nothing.
func (d *StreamDecoder) decode(b []byte) string {
	var out strings.Builder
	out.Grow(len(b))
	for len(b) > 0 {
		if b[0] < utf8.RuneSelf {
			out.WriteByte(b[0])
			b = b[1:]
			continue
		}
		r, size := utf8.DecodeRune(b)
		if r != utf8.RuneError || size > 1 {
			out.Write(b[:size])
			b = b[size:]
			continue
		}
		if !utf8.FullRune(b) {
			// A valid start of a character that the next token may
			// complete; it is at most 3 bytes.
			d.n = copy(d.held[:], b)
			break
		}
		out.WriteRune(utf8.RuneError)
		b = b[invalidPrefix(b):]
	}
	return out.String()
}

// invalidPrefix returns the length of the maximal invalid subpart that b
// starts with, given that b does not start with a valid character: the
// longest prefix that is the start of some valid character, or 1 if there
// is none.
func invalidPrefix(b []byte) int {
	for k := min(len(b), utf8.UTFMax-1); k > 1; k-- {
		if !utf8.FullRune(b[:k]) {
			return k
		}
	}
	return 1
}
