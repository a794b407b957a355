package bpe

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// newTokenizer returns the shared tokenizer or stops the test.
func newTokenizer(tb testing.TB) *Tokenizer {
	tb.Helper()
	tok, err := New()
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return tok
}

func TestEncode(t *testing.T) {
	tok := newTokenizer(t)
	tests := []struct {
		name string
		text string
		want []int
	}{
		{"empty", "", []int{}},
		{"hello world", "Hello world", []int{15496, 995}},
		{"pangram", "The quick brown fox jumps over the lazy dog.", []int{464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13}},
		{"space the", " the", []int{262}},
		{"newline", "\n", []int{198}},
		{"bang", "!", []int{0}},
		{"space world", " world", []int{995}},
		{"lowercase hello", "hello", []int{31373}},
		{"punctuation", "Hello, world!\n", []int{15496, 11, 995, 0, 198}},
		{"contraction m", "I'm", []int{40, 1101}},
		{"contraction t", "don't", []int{9099, 470}},
		{"contraction ll", "they'll", []int{9930, 1183}},
		{"contraction s and number", "It's 2024.", []int{1026, 338, 48609, 13}},
		{"letters then digits", "abc123", []int{39305, 10163}},
		{"two spaces between", "a  b", []int{64, 220, 275}},
		{"blank line", "a\n\nb", []int{64, 198, 198, 65}},
		{"two spaces", "  ", []int{220, 220}},
		{"trailing spaces", "trailing  ", []int{9535, 4386, 220, 220}},
		{"tabs", "\t\tindented", []int{197, 197, 521, 4714}},
		{"accents", "héllo wörld", []int{71, 2634, 18798, 266, 30570, 335}},
		{"accents words", "naïve café", []int{2616, 38776, 40304}},
		{"emoji", "😀", []int{47249, 222}},
		{"emoji and word", "🤖 robots", []int{8582, 97, 244, 14193}},
		{"cjk", "日本語", []int{33768, 98, 17312, 105, 45739, 252}},
		{"special as text", "<|endoftext|>", []int{27, 91, 437, 1659, 5239, 91, 29}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tok.Encode(tt.text)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Encode(%q) = %v, want %v", tt.text, got, tt.want)
			}
		})
	}
}

// TestEncodeTiktoken checks Encode against encodings made by OpenAI's
// tiktoken; testdata/gen_tiktoken_r50k.js says how.
func TestEncodeTiktoken(t *testing.T) {
	tok := newTokenizer(t)
	f, err := os.Open("testdata/tiktoken_r50k.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		var c struct {
			S   string `json:"s"`
			IDs []int  `json:"ids"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		if got := tok.Encode(c.S); !slices.Equal(got, c.IDs) {
			t.Errorf("line %d: Encode(%q) = %v, want %v", line, c.S, got, c.IDs)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if line < 400 {
		t.Errorf("read %d cases, want at least 400", line)
	}
}

func TestEncodeSpecial(t *testing.T) {
	tok := newTokenizer(t)
	tests := []struct {
		name string
		text string
		want []int
	}{
		{"alone", "<|endoftext|>", []int{EndOfText}},
		{"between words", "a<|endoftext|>b", []int{64, EndOfText, 65}},
		{"twice", "<|endoftext|><|endoftext|>", []int{EndOfText, EndOfText}},
		{"after text", "Hello world<|endoftext|>", []int{15496, 995, EndOfText}},
		// Text on either side is pretokenized on its own, so the space
		// before the special token does not join a word.
		{"space before", "Hello <|endoftext|> world", []int{15496, 220, EndOfText, 995}},
		{"no special", "Hello world", []int{15496, 995}},
		{"partial", "<|endoftext|", []int{27, 91, 437, 1659, 5239, 91}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tok.EncodeSpecial(tt.text)
			if !slices.Equal(got, tt.want) {
				t.Errorf("EncodeSpecial(%q) = %v, want %v", tt.text, got, tt.want)
			}
		})
	}
	if got := tok.Encode("<|endoftext|>"); slices.Contains(got, EndOfText) {
		t.Errorf("Encode(%q) = %v, want no %d", "<|endoftext|>", got, EndOfText)
	}
}

func TestDecode(t *testing.T) {
	tok := newTokenizer(t)
	tests := []struct {
		name    string
		ids     []int
		want    string
		wantErr string
	}{
		{"empty", nil, "", ""},
		{"hello world", []int{15496, 995}, "Hello world", ""},
		{"end of text", []int{15496, EndOfText}, "Hello<|endoftext|>", ""},
		{"emoji", []int{47249, 222}, "😀", ""},
		{"half an emoji kept as bytes", []int{47249}, "\xf0\x9f\x98", ""},
		{"negative id", []int{15496, -1}, "", "id -1 at position 1"},
		{"id past vocab", []int{50257}, "", "id 50257 at position 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tok.Decode(tt.ids)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidID) {
					t.Fatalf("Decode(%v) error = %v, want one containing %q and wrapping ErrInvalidID", tt.ids, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%v): %v", tt.ids, err)
			}
			if got != tt.want {
				t.Errorf("Decode(%v) = %q, want %q", tt.ids, got, tt.want)
			}
		})
	}
}

func TestTokenBytes(t *testing.T) {
	tok := newTokenizer(t)
	tests := []struct {
		name string
		id   int
		want []byte
	}{
		{"bang", 0, []byte("!")},
		{"newline", 198, []byte("\n")},
		{"space", 220, []byte(" ")},
		{"continuation byte", 222, []byte{0x80}},
		{"space the", 262, []byte(" the")},
		{"last rank", 50255, []byte(" gazed")},
		{"end of text", EndOfText, []byte("<|endoftext|>")},
		{"negative", -1, nil},
		{"past vocab", 50257, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tok.TokenBytes(tt.id)
			if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("TokenBytes(%d) = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
	// The result is a copy: changing it does not change the vocabulary.
	b := tok.TokenBytes(262)
	b[0] = 'X'
	if got, want := string(tok.TokenBytes(262)), " the"; got != want {
		t.Errorf("TokenBytes(262) after writing to a previous result = %q, want %q", got, want)
	}
}

func TestVocab(t *testing.T) {
	tok := newTokenizer(t)
	if got, want := tok.VocabSize(), 50257; got != want {
		t.Errorf("VocabSize() = %d, want %d", got, want)
	}
	again := newTokenizer(t)
	if again != tok {
		t.Errorf("New() returned %p, then %p; want the shared instance", tok, again)
	}
	// Every ordinary token decodes to its bytes, and encodes to itself
	// when the pretokenizer keeps it in one piece.
	single := 0
	for id := range tok.VocabSize() - 1 {
		b := tok.TokenBytes(id)
		got, err := tok.Decode([]int{id})
		if err != nil || got != string(b) {
			t.Fatalf("Decode([%d]) = %q, %v; want %q", id, got, err, b)
		}
		if n := len(slices.Collect(pieces(string(b)))); n != 1 {
			continue
		}
		single++
		if got, want := tok.Encode(string(b)), []int{id}; !slices.Equal(got, want) {
			t.Errorf("Encode(%q) = %v, want %v", b, got, want)
		}
	}
	if single < 49000 {
		t.Errorf("%d tokens are a single piece, want at least 49000", single)
	}
}

func TestParseRanksErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"no space", "IQ==\n", "line 1: no space"},
		{"bad rank", "IQ== x\n", "line 1: bad rank"},
		{"rank too big", "IQ== 50256\n", "line 1: bad rank"},
		{"bad base64", "!!! 0\n", "line 1: bad token"},
		{"duplicate rank", "IQ== 0\nIg== 0\n", "line 2: duplicate rank 0"},
		{"duplicate token", "IQ== 0\nIQ== 1\n", "line 2: duplicate token"},
		{"missing ranks", "IQ== 0\n", "rank 1 missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseRanks([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseRanks(%q) error = %v, want one containing %q", tt.data, err, tt.want)
			}
		})
	}
}

// TestMergeAgree checks that the heap merge used for long pieces gives
// the same ids as the scan merge used for short ones.
func TestMergeAgree(t *testing.T) {
	tok := newTokenizer(t)
	tests := []struct {
		name  string
		piece string
	}{
		{"letters", "supercalifragilisticexpialidocious"},
		{"repeated a", strings.Repeat("a", 300)},
		{"repeated ab", strings.Repeat("ab", 150)},
		{"digits", "31415926535897932384626433832795028841971693993751"},
		{"spaces", strings.Repeat(" ", 40)},
		{"emoji", strings.Repeat("😀🤖", 20)},
		{"cjk", "日本語のテキストを分割する"},
		{"punctuation", "!!!???...---***///"},
		{"mixed case", "ThisIsAVeryLongIdentifierWithoutAnySpacesInIt"},
		{"invalid utf-8", "\xff\xfe\xf0\x9f\x98abc\x80\x80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scan := tok.appendScanMerged(nil, tt.piece)
			heap := tok.appendHeapMerged(nil, tt.piece)
			if !slices.Equal(heap, scan) {
				t.Errorf("heap merge of %q = %v, want %v (scan merge)", tt.piece, heap, scan)
			}
		})
	}
}

func TestEncodeLongRun(t *testing.T) {
	tok := newTokenizer(t)
	tests := []struct {
		name string
		text string
	}{
		{"1 MB of a", strings.Repeat("a", 1<<20)},
		{"1 MB of digits", strings.Repeat("7", 1<<20)},
		{"1 MB of spaces", strings.Repeat(" ", 1<<20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No clock here (the machines are shared and noisy): a merge
			// that went quadratic on long pieces would run for hours and
			// trip go test's timeout instead.
			ids := tok.Encode(tt.text)
			got, err := tok.Decode(ids)
			if err != nil || got != tt.text {
				t.Errorf("Decode(Encode(text)) = %d bytes, %v; want the %d bytes of text", len(got), err, len(tt.text))
			}
		})
	}
}

func TestConcurrentEncode(t *testing.T) {
	tok := newTokenizer(t)
	texts := []string{"Hello world", "naïve café", "they'll", "日本語", "supercalifragilistic"}
	want := make([][]int, len(texts))
	for i, s := range texts {
		want[i] = tok.Encode(s)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := (g + i) % len(texts)
				if got := tok.Encode(texts[k]); !slices.Equal(got, want[k]) {
					t.Errorf("Encode(%q) = %v, want %v", texts[k], got, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
}

// benchText is English prose with some code and numbers, about 50 kB.
var benchText = strings.Repeat(`GPT-2 is a large transformer-based language model with 1.5 billion
parameters, trained on a dataset of 8 million web pages. It's trained simply to predict the
next word in 40GB of Internet text; we've found it "adapts to the style and content" of the
conditioning text. func main() { fmt.Println("héllo, wörld", 3.14159) }	// naïve café 日本語 😀
`, 128)

func BenchmarkEncode(b *testing.B) {
	tok := newTokenizer(b)
	b.SetBytes(int64(len(benchText)))
	for b.Loop() {
		tok.Encode(benchText)
	}
}

func BenchmarkDecode(b *testing.B) {
	tok := newTokenizer(b)
	ids := tok.Encode(benchText)
	b.SetBytes(int64(len(benchText)))
	for b.Loop() {
		if _, err := tok.Decode(ids); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEncodeLimit(t *testing.T) {
	tok, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if n := tok.MaxTokenBytes(); n < 16 || n > 1024 {
		t.Errorf("MaxTokenBytes = %d, want a longest GPT-2 token of a few dozen bytes", n)
	}
	text := strings.Repeat("The latency of a language model server is ", 20)
	all := tok.Encode(text)
	tests := []struct {
		name     string
		text     string
		limit    int
		complete bool
	}{
		{"under the limit", text, len(all) + 1, true},
		{"exactly the limit", text, len(all), false},
		{"over the limit", text, 10, false},
		{"one huge piece", strings.Repeat("a", 1<<20), 1024, false},
		{"empty", "", 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, complete := tok.EncodeLimit(tt.text, tt.limit)
			if complete != tt.complete {
				t.Fatalf("complete = %v, want %v (%d ids, limit %d)", complete, tt.complete, len(ids), tt.limit)
			}
			if complete {
				if want := tok.Encode(tt.text); !slices.Equal(ids, want) {
					t.Errorf("complete encoding %v differs from Encode's %v", ids, want)
				}
			} else if tt.text == text && !slices.Equal(ids, all[:len(ids)]) {
				t.Errorf("the partial encoding is not a prefix of Encode's")
			}
		})
	}
}
