package bpe

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRoundTrip checks that decoding, in one go or as a stream, gives the
// encoded text back, and that the pieces tile the text.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{
		"",
		"Hello world",
		"The quick brown fox jumps over the lazy dog.",
		"I'm sure they'll say we've done what you'd've done.",
		"abc123 4567 x²",
		"a  b\n\nc\t\td   ",
		"\r\n\r\n  \u00a0\u3000 end",
		"héllo wörld, naïve café",
		"日本語のテキスト 你好世界 안녕하세요",
		"😀🤖👍🏽🇺🇸",
		"<|endoftext|>",
		"func main() {\n\treturn 0\n}\n",
		strings.Repeat("a", 500),
		"\xff\xfe invalid \xf0\x9f",
	} {
		f.Add(s)
	}
	tok, err := New()
	if err != nil {
		f.Fatalf("New: %v", err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if joined := strings.Join(slices.Collect(pieces(s)), ""); joined != s {
			t.Fatalf("pieces(%q) join to %q", s, joined)
		}
		ids := tok.Encode(s)
		got, err := tok.Decode(ids)
		if err != nil {
			t.Fatalf("Decode(Encode(%q)): %v", s, err)
		}
		// Bytes are bytes, valid UTF-8 or not.
		if got != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, got)
		}
		if special := tok.EncodeSpecial(s); !strings.Contains(s, endOfTextText) && !slices.Equal(special, ids) {
			t.Fatalf("EncodeSpecial(%q) = %v, want %v as from Encode", s, special, ids)
		}
		if !utf8.ValidString(s) {
			return
		}
		d := tok.NewStreamDecoder()
		var b strings.Builder
		for _, id := range ids {
			b.WriteString(d.Add(id))
		}
		b.WriteString(d.Flush())
		if got := b.String(); got != s {
			t.Fatalf("stream decode of Encode(%q) = %q", s, got)
		}
	})
}

// FuzzStreamDecoder feeds arbitrary ids, in range or not, to a
// StreamDecoder: it must not panic, must emit valid UTF-8, and must agree
// with decoding all the bytes at once.
func FuzzStreamDecoder(f *testing.F) {
	// Each id is two little-endian bytes less 1000, so ids run from -1000
	// to 64535 and cover every token, EndOfText and both out-of-range sides.
	idBytes := func(ids ...int) []byte {
		var b []byte
		for _, id := range ids {
			b = binary.LittleEndian.AppendUint16(b, uint16(id+1000))
		}
		return b
	}
	f.Add([]byte{})
	f.Add(idBytes(15496, 995))
	f.Add(idBytes(47249, 222))
	f.Add(idBytes(47249, 15496, 222))
	f.Add(idBytes(-1, 50256, 50257, 64535))
	f.Add(idBytes(171, 171, 171, 171))
	tok, err := New()
	if err != nil {
		f.Fatalf("New: %v", err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := tok.NewStreamDecoder()
		var got, want strings.Builder
		var pending []byte // bytes since the last out-of-range id
		for len(data) >= 2 {
			id := int(binary.LittleEndian.Uint16(data)) - 1000
			data = data[2:]
			out := d.Add(id)
			if !utf8.ValidString(out) {
				t.Fatalf("Add(%d) = %q, not valid UTF-8", id, out)
			}
			got.WriteString(out)
			if b := tok.TokenBytes(id); b != nil {
				pending = append(pending, b...)
				continue
			}
			want.WriteString(sanitize(pending))
			want.WriteRune(utf8.RuneError)
			pending = pending[:0]
		}
		got.WriteString(d.Flush())
		want.WriteString(sanitize(pending))
		if got.String() != want.String() {
			t.Fatalf("stream decode = %q, want %q", got.String(), want.String())
		}
	})
}

// FuzzEncodeLimit: EncodeLimit agrees with Encode. Complete, it is Encode's
// result; stopped, Encode has at least limit tokens and the partial ids are
// a prefix of them.
func FuzzEncodeLimit(f *testing.F) {
	for _, s := range []string{"", "Hello world", "a  b\n\nc", strings.Repeat("a", 600), strings.Repeat("ab ", 300), "😀🤖 x\xff"} {
		f.Add(s, 3)
		f.Add(s, 100)
	}
	tok, err := New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string, limit int) {
		if limit < 1 || limit > 1<<20 {
			return
		}
		ids, complete := tok.EncodeLimit(text, limit)
		all := tok.Encode(text)
		if complete {
			if !slices.Equal(ids, all) {
				t.Fatalf("complete EncodeLimit(%q, %d) = %v, Encode = %v", text, limit, ids, all)
			}
			return
		}
		if len(all) < limit {
			t.Fatalf("EncodeLimit(%q, %d) stopped, but Encode has only %d tokens", text, limit, len(all))
		}
		if len(ids) > len(all) || !slices.Equal(ids, all[:len(ids)]) {
			t.Fatalf("EncodeLimit(%q, %d) = %v is not a prefix of Encode's %v", text, limit, ids, all)
		}
	})
}
