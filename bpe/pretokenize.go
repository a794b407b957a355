package bpe

import (
	"iter"
	"unicode"
	"unicode/utf8"
)

// class is the character class the GPT-2 pretokenizer cares about.
type class uint8

const (
	classSpace  class = iota // \s: Unicode White_Space
	classLetter              // \p{L}
	classNumber              // \p{N}
	classOther               // [^\s\p{L}\p{N}], including bytes that are not valid UTF-8
)

// classAt returns the class of the character at text[i:] and its length in
// bytes. A byte that does not start valid UTF-8 is one character of
// classOther.
func classAt(text string, i int) (class, int) {
	c := text[i]
	if c < utf8.RuneSelf {
		switch {
		case c == ' ', c >= '\t' && c <= '\r':
			return classSpace, 1
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			return classLetter, 1
		case c >= '0' && c <= '9':
			return classNumber, 1
		default:
			return classOther, 1
		}
	}
	r, size := utf8.DecodeRuneInString(text[i:])
	switch {
	case size == 1: // invalid UTF-8 (r == utf8.RuneError)
		return classOther, 1
	case unicode.IsSpace(r):
		return classSpace, size
	case unicode.IsLetter(r):
		return classLetter, size
	case unicode.IsNumber(r):
		return classNumber, size
	default:
		return classOther, size
	}
}

// pieces splits text as GPT-2's pretokenizer regular expression does:
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// The alternatives are tried in order at each position, leftmost first.
// Go's regexp has no lookahead, so this is a hand-written scanner. The
// pieces tile text: concatenated, they give text back.
//
// The rule \s+(?!\S) makes a run of whitespace that is followed by a
// non-space leave its last character to the next piece, so "a  b" splits
// into "a", " ", " b" and "a\n\nb" into "a", "\n", "\n", "b". Whitespace at
// the end of text is one piece.
func pieces(text string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := 0; i < len(text); {
			end := pieceEnd(text, i)
			if !yield(text[i:end]) {
				return
			}
			i = end
		}
	}
}

// pieceEnd returns the end of the piece that starts at text[i:], i < len(text).
func pieceEnd(text string, i int) int {
	if n := contraction(text[i:]); n > 0 {
		return i + n
	}
	cls, size := classAt(text, i)
	start := i
	if text[i] == ' ' && i+1 < len(text) {
		// " ?X+": a single ASCII space may lead a run of letters,
		// numbers or other characters.
		if next, nsize := classAt(text, i+1); next != classSpace {
			cls, size, start = next, nsize, i+1
		}
	}
	if cls != classSpace {
		j := start + size
		for j < len(text) {
			c, n := classAt(text, j)
			if c != cls {
				break
			}
			j += n
		}
		return j
	}

	// A run of whitespace. \s+(?!\S) takes all of it at the end of text,
	// and all but its last character before a non-space. If that leaves
	// nothing (a single whitespace character before a non-space), \s+
	// takes the one character.
	j, last := i+size, i
	for j < len(text) {
		c, n := classAt(text, j)
		if c != classSpace {
			break
		}
		last = j
		j += n
	}
	if j == len(text) || last == i {
		return j
	}
	return last
}

// contraction returns the length of the English contraction ('s, 't, 're,
// 've, 'm, 'll or 'd, lower case only) that s starts with, or 0.
func contraction(s string) int {
	if len(s) < 2 || s[0] != '\'' {
		return 0
	}
	switch s[1] {
	case 's', 't', 'm', 'd':
		return 2
	}
	if len(s) >= 3 {
		switch s[1:3] {
		case "re", "ve", "ll":
			return 3
		}
	}
	return 0
}
