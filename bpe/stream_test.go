package bpe

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// byteIDs returns the id of the single-byte token for each byte value.
func byteIDs(tb testing.TB, tok *Tokenizer) [256]int {
	tb.Helper()
	var ids [256]int
	for b := range 256 {
		ids[b] = tok.Encode(string([]byte{byte(b)}))[0]
		if got := tok.TokenBytes(ids[b]); len(got) != 1 || got[0] != byte(b) {
			tb.Fatalf("TokenBytes(%d) = %q, want byte 0x%02x", ids[b], got, b)
		}
	}
	return ids
}

// streamAll feeds ids to a new StreamDecoder and returns what each Add
// returned, then what Flush returned.
func streamAll(tok *Tokenizer, ids []int) (adds []string, flush string) {
	d := tok.NewStreamDecoder()
	for _, id := range ids {
		adds = append(adds, d.Add(id))
	}
	return adds, d.Flush()
}

func TestStreamDecoderText(t *testing.T) {
	tok := newTokenizer(t)
	tests := []struct {
		name      string
		text      string
		wantAdds  []string
		wantFlush string
	}{
		{"words", "Hello world", []string{"Hello", " world"}, ""},
		// GPT-2 splits 😀 (f0 9f 98 80) into f09f98 and 80.
		{"emoji over two tokens", "😀", []string{"", "😀"}, ""},
		{"emoji then word", "😀 ok", []string{"", "😀", " ok"}, ""},
		// 日 is e6 97 a5, 本 is e6 9c ac, 語 is e8 aa 9e.
		{"cjk", "日本語", []string{"", "日", "", "本", "", "語"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids := tok.Encode(tt.text)
			adds, flush := streamAll(tok, ids)
			if !slices.Equal(adds, tt.wantAdds) || flush != tt.wantFlush {
				t.Errorf("stream of %v (%q) = %q then %q, want %q then %q", ids, tt.text, adds, flush, tt.wantAdds, tt.wantFlush)
			}
		})
	}
}

func TestStreamDecoderBytes(t *testing.T) {
	tok := newTokenizer(t)
	byID := byteIDs(t, tok)
	const fffd = "\uFFFD"
	tests := []struct {
		name      string
		bytes     []byte // each byte is fed as its own token
		wantAdds  []string
		wantFlush string
	}{
		{"ascii", []byte("ab"), []string{"a", "b"}, ""},
		{"two-byte char", []byte("é"), []string{"", "é"}, ""},
		{"three-byte char", []byte("€"), []string{"", "", "€"}, ""},
		{"four-byte char", []byte("😀"), []string{"", "", "", "😀"}, ""},
		{"incomplete at end", []byte{0xe2, 0x82}, []string{"", ""}, fffd},
		{"invalid byte", []byte{'a', 0xff, 'b'}, []string{"a", fffd, "b"}, ""},
		{"lone continuation", []byte{0x80, 'x'}, []string{fffd, "x"}, ""},
		{"overlong lead", []byte{0xc0, 0xaf}, []string{fffd, fffd}, ""},
		// One U+FFFD for the valid start e2 82, then the a.
		{"broken three-byte char", []byte{0xe2, 0x82, 'a'}, []string{"", "", fffd + "a"}, ""},
		{"lead after lead", []byte{0xe2, 0xe2, 0x82, 0xac}, []string{"", fffd, "", "€"}, ""},
		// e0 80 can never start a character: e0 needs a0..bf next.
		{"impossible second byte", []byte{0xe0, 0x80, 0x80}, []string{"", fffd + fffd, fffd}, ""},
		{"surrogate", []byte{0xed, 0xa0, 0x80}, []string{"", fffd + fffd, fffd}, ""},
		{"beyond U+10FFFF", []byte{0xf4, 0x90, 0x80, 0x80}, []string{"", fffd + fffd, fffd, fffd}, ""},
		{"held then flushed", []byte{'a', 0xf0, 0x9f, 0x98}, []string{"a", "", "", ""}, fffd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids := make([]int, len(tt.bytes))
			for i, b := range tt.bytes {
				ids[i] = byID[b]
			}
			adds, flush := streamAll(tok, ids)
			if !slices.Equal(adds, tt.wantAdds) || flush != tt.wantFlush {
				t.Errorf("stream of bytes %x = %q then %q, want %q then %q", tt.bytes, adds, flush, tt.wantAdds, tt.wantFlush)
			}
		})
	}
}

func TestStreamDecoderIDs(t *testing.T) {
	tok := newTokenizer(t)
	byID := byteIDs(t, tok)
	const fffd = "\uFFFD"
	tests := []struct {
		name      string
		ids       []int
		wantAdds  []string
		wantFlush string
	}{
		{"end of text", []int{15496, EndOfText}, []string{"Hello", "<|endoftext|>"}, ""},
		{"out of range", []int{15496, -1, 50257, 995}, []string{"Hello", fffd, fffd, " world"}, ""},
		{"out of range ends held bytes", []int{byID[0xe2], 99999}, []string{"", fffd + fffd}, ""},
		// The token f09f98 (47249) completed by the byte 80.
		{"multi-byte token then byte", []int{47249, byID[0x80]}, []string{"", "😀"}, ""},
		{"multi-byte token broken", []int{47249, 15496}, []string{"", fffd + "Hello"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			adds, flush := streamAll(tok, tt.ids)
			if !slices.Equal(adds, tt.wantAdds) || flush != tt.wantFlush {
				t.Errorf("stream of %v = %q then %q, want %q then %q", tt.ids, adds, flush, tt.wantAdds, tt.wantFlush)
			}
		})
	}
}

func TestStreamDecoderReuse(t *testing.T) {
	tok := newTokenizer(t)
	d := tok.NewStreamDecoder()
	d.Add(47249) // f0 9f 98, held
	if got, want := d.Flush(), "\uFFFD"; got != want {
		t.Errorf("Flush() = %q, want %q", got, want)
	}
	if got, want := d.Flush(), ""; got != want {
		t.Errorf("second Flush() = %q, want %q", got, want)
	}
	if got, want := d.Add(15496), "Hello"; got != want {
		t.Errorf("Add(15496) after Flush = %q, want %q", got, want)
	}
}

// sanitize is the reference for StreamDecoder output: b with each maximal
// invalid subpart, including an incomplete character at the end, replaced
// by U+FFFD.
func sanitize(b []byte) string {
	var out strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r != utf8.RuneError || size > 1 {
			out.Write(b[:size])
			b = b[size:]
			continue
		}
		out.WriteRune(utf8.RuneError)
		b = b[invalidPrefix(b):]
	}
	return out.String()
}

func TestSanitize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"valid", "héllo 😀", "héllo 😀"},
		{"incomplete at end", "a\xf0\x9f\x98", "a\uFFFD"},
		{"incomplete in middle", "\xe2\x82a", "\uFFFDa"},
		{"bad bytes", "\xff\xfe", "\uFFFD\uFFFD"},
		{"surrogate", "\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"},
		{"encoded U+FFFD", "\uFFFD", "\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sanitize([]byte(tt.in)); got != tt.want {
				t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
