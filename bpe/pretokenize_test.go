package bpe

import (
	"slices"
	"strings"
	"testing"
)

func TestPieces(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"empty", "", nil},
		{"words", "Hello world", []string{"Hello", " world"}},
		{"sentence", "The lazy dog.", []string{"The", " lazy", " dog", "."}},
		{"contraction m", "I'm", []string{"I", "'m"}},
		{"contraction t", "don't", []string{"don", "'t"}},
		{"contraction ll", "they'll", []string{"they", "'ll"}},
		{"contractions re ve d s", "we're'd've's", []string{"we", "'re", "'d", "'ve", "'s"}},
		{"contraction takes two letters only", "'sa", []string{"'s", "a"}},
		{"upper case is no contraction", "I'M", []string{"I", "'", "M"}},
		{"space apostrophe", "a 's", []string{"a", " '", "s"}},
		{"apostrophe in punctuation run", "!'s", []string{"!'", "s"}},
		{"quotes", "'hello'", []string{"'", "hello", "'"}},
		{"digits", "abc123", []string{"abc", "123"}},
		{"long number", " 1234567890", []string{" 1234567890"}},
		{"digits then letters", "123abc", []string{"123", "abc"}},
		{"space before number", "in 2024", []string{"in", " 2024"}},
		{"punctuation run", "Hi!!! ...ok", []string{"Hi", "!!!", " ...", "ok"}},
		{"two spaces", "a  b", []string{"a", " ", " b"}},
		{"three spaces", "a   b", []string{"a", "  ", " b"}},
		{"spaces before punctuation", "a   !", []string{"a", "  ", " !"}},
		{"spaces before digits", "a  1", []string{"a", " ", " 1"}},
		{"blank line", "a\n\nb", []string{"a", "\n", "\n", "b"}},
		{"newline then space", "a\n b", []string{"a", "\n", " b"}},
		{"space then newline", "a \nb", []string{"a", " ", "\n", "b"}},
		{"tabs", "a\t\tb", []string{"a", "\t", "\t", "b"}},
		{"crlf", "a\r\nb", []string{"a", "\r", "\n", "b"}},
		{"trailing spaces", "end   ", []string{"end", "   "}},
		{"trailing newlines", "end\n\n", []string{"end", "\n\n"}},
		{"only spaces", "   ", []string{"   "}},
		{"one space", " ", []string{" "}},
		{"leading spaces", "  x", []string{" ", " x"}},
		{"indented code", "\n    return x", []string{"\n   ", " return", " x"}},
		{"unicode letters", "héllo wörld", []string{"héllo", " wörld"}},
		{"cjk", "日本語 テキスト", []string{"日本語", " テキスト"}},
		{"emoji", "hi 😀😀!", []string{"hi", " 😀😀!"}},
		{"combining mark is not a letter", "e\u0301a", []string{"e", "\u0301", "a"}},
		{"other numbers", "x²Ⅻ٣", []string{"x", "²Ⅻ٣"}},
		{"no-break space is whitespace", "a\u00a0b", []string{"a", "\u00a0", "b"}},
		{"ideographic space", "a\u3000\u3000b", []string{"a", "\u3000", "\u3000", "b"}},
		{"space then no-break space", "a \u00a0b", []string{"a", " ", "\u00a0", "b"}},
		{"line separator", "a\u2028b", []string{"a", "\u2028", "b"}},
		{"file separator is not whitespace", "a\x1cb", []string{"a", "\x1c", "b"}},
		{"invalid utf-8 is other", "a\xff\xfeb", []string{"a", "\xff\xfe", "b"}},
		{"space before invalid utf-8", "a \xffb", []string{"a", " \xff", "b"}},
		{"special token text", "<|endoftext|>", []string{"<|", "endoftext", "|>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slices.Collect(pieces(tt.text))
			if !slices.Equal(got, tt.want) {
				t.Errorf("pieces(%q) = %q, want %q", tt.text, got, tt.want)
			}
			if joined := strings.Join(got, ""); joined != tt.text {
				t.Errorf("pieces(%q) join to %q, want the text", tt.text, joined)
			}
		})
	}
}

func TestPiecesStop(t *testing.T) {
	var got []string
	for p := range pieces("one two three") {
		got = append(got, p)
		if len(got) == 2 {
			break
		}
	}
	if want := []string{"one", " two"}; !slices.Equal(got, want) {
		t.Errorf("first pieces = %q, want %q", got, want)
	}
}
