// Package bpe is GPT-2's byte-level byte-pair-encoding tokenizer, the
// encoding tiktoken calls "r50k_base".
//
// Text is first split into pieces by GPT-2's pretokenizer regular
// expression, reproduced by a hand-written scanner since Go's regexp has
// no lookahead; each piece is then either a token on its own or is built up from single
// bytes by repeatedly merging the adjacent pair whose concatenation has the
// lowest rank, as tiktoken does. The vocabulary is the r50k_base rank file
// embedded in github.com/pkoukk/tiktoken-go-loader/assets (MIT), plus the
// special token "<|endoftext|>" with id [EndOfText].
//
// Token ids are ints in [0, VocabSize()). Decoding works on bytes: a token
// may hold part of a UTF-8 character, so use a [StreamDecoder] to turn a
// stream of generated ids into text.
package bpe

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/pkoukk/tiktoken-go-loader/assets"
)

// EndOfText is the id of the special token "<|endoftext|>", GPT-2's
// end-of-document marker and its BOS/EOS token.
const EndOfText = 50256

// endOfTextText is the text of the special token [EndOfText].
const endOfTextText = "<|endoftext|>"

// rankFile is the name of the r50k_base rank file in [assets.Assets].
const rankFile = "r50k_base.tiktoken"

// numRanks is the number of ordinary (mergeable) tokens in r50k_base.
const numRanks = 50256

// ErrInvalidID is returned, wrapped, by [Tokenizer.Decode] for a token id
// outside [0, VocabSize()).
var ErrInvalidID = errors.New("token id out of range")

// Tokenizer encodes text to GPT-2 token ids and decodes ids back to text.
//
// Tokenizer is safe for concurrent use: its vocabulary is read-only after
// [New], and its cache of encoded pieces (at most 16384 pieces of up to 64
// bytes each, emptied when full) is guarded by a mutex. The zero value has
// no vocabulary and is not usable; get one from [New].
type Tokenizer struct {
	maxLen int            // the longest ordinary token, in bytes
	ranks  map[string]int // token bytes -> rank (= id), ordinary tokens only
	tokens [][]byte       // id -> token bytes, including EndOfText

	mu    sync.Mutex
	cache map[string][]int // piece -> ids, for pieces that need merging
}

// Limits of the piece cache: pieces longer than cacheMaxPiece bytes are
// never cached, and the cache is emptied when it reaches cacheMaxEntries.
const (
	cacheMaxPiece   = 64
	cacheMaxEntries = 1 << 14
)

var loadOnce = sync.OnceValues(load)

// New returns the r50k_base tokenizer. The vocabulary is parsed from the
// embedded rank file on the first call; later calls return the same shared
// *Tokenizer (and the same error, if loading failed).
func New() (*Tokenizer, error) {
	return loadOnce()
}

// load parses the embedded rank file into a new Tokenizer.
func load() (*Tokenizer, error) {
	data, err := assets.Assets.ReadFile(rankFile)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", rankFile, err)
	}
	t, err := parseRanks(data)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", rankFile, err)
	}
	return t, nil
}

// parseRanks reads lines of "base64(token bytes) rank" and checks that the
// ranks are exactly 0..numRanks-1, each once.
func parseRanks(data []byte) (*Tokenizer, error) {
	t := &Tokenizer{
		ranks:  make(map[string]int, numRanks),
		tokens: make([][]byte, numRanks+1),
		cache:  make(map[string][]int),
	}
	// All token bytes live in one backing array; r50k_base holds about
	// 330 kB of them, so len(data) is a safe upper bound.
	arena := make([]byte, 0, len(data))
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		text := sc.Bytes()
		if len(text) == 0 {
			continue
		}
		enc, rankText, ok := bytes.Cut(text, []byte{' '})
		if !ok {
			return nil, fmt.Errorf("line %d: no space in %q", line, text)
		}
		rank, err := strconv.Atoi(string(rankText))
		if err != nil || rank < 0 || rank >= numRanks {
			return nil, fmt.Errorf("line %d: bad rank %q", line, rankText)
		}
		start := len(arena)
		arena = arena[:start+base64.StdEncoding.DecodedLen(len(enc))]
		n, err := base64.StdEncoding.Decode(arena[start:], enc)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("line %d: bad token %q", line, enc)
		}
		arena = arena[:start+n]
		tok := arena[start : start+n : start+n]
		if t.tokens[rank] != nil {
			return nil, fmt.Errorf("line %d: duplicate rank %d", line, rank)
		}
		if _, dup := t.ranks[string(tok)]; dup {
			return nil, fmt.Errorf("line %d: duplicate token %q", line, tok)
		}
		t.tokens[rank] = tok
		t.ranks[string(tok)] = rank
		t.maxLen = max(t.maxLen, len(tok))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for rank, tok := range t.tokens[:numRanks] {
		if tok == nil {
			return nil, fmt.Errorf("rank %d missing", rank)
		}
	}
	for b := range 256 {
		if _, ok := t.ranks[string([]byte{byte(b)})]; !ok {
			return nil, fmt.Errorf("no token for byte 0x%02x", b)
		}
	}
	t.tokens[EndOfText] = []byte(endOfTextText)
	return t, nil
}

// VocabSize returns the number of token ids, 50257: the 50256 ordinary
// tokens and [EndOfText].
func (t *Tokenizer) VocabSize() int {
	return len(t.tokens)
}

// TokenBytes returns a copy of the raw bytes of token id, which need not be
// valid UTF-8 on their own. TokenBytes(EndOfText) is "<|endoftext|>". It
// returns nil if id is out of range.
func (t *Tokenizer) TokenBytes(id int) []byte {
	if id < 0 || id >= len(t.tokens) {
		return nil
	}
	return bytes.Clone(t.tokens[id])
}

// Encode returns the token ids of text. Special tokens are not recognised:
// "<|endoftext|>" in text is encoded as ordinary text, never as
// [EndOfText], so user input cannot inject it. Bytes of text that are not
// valid UTF-8 are encoded as themselves, so Decode(Encode(s)) == s for any
// string s.
func (t *Tokenizer) Encode(text string) []int {
	return t.appendEncoded(make([]int, 0, len(text)/4+1), text)
}

// EncodeSpecial is like [Tokenizer.Encode] but turns each "<|endoftext|>"
// in text into [EndOfText]. The text between special tokens is encoded on
// its own, as tiktoken does with allowed_special.
func (t *Tokenizer) EncodeSpecial(text string) []int {
	ids := make([]int, 0, len(text)/4+1)
	for {
		before, after, found := strings.Cut(text, endOfTextText)
		ids = t.appendEncoded(ids, before)
		if !found {
			return ids
		}
		ids = append(ids, EndOfText)
		text = after
	}
}

// MaxTokenBytes is the length in bytes of the longest ordinary token: a
// text of n bytes has at least n / MaxTokenBytes tokens, which bounds a
// prompt's length before it is encoded.
func (t *Tokenizer) MaxTokenBytes() int { return t.maxLen }

// EncodeLimit is [Tokenizer.Encode] that stops once the text is known to
// have limit tokens or more: complete is false then, and ids holds at
// least limit tokens (a prefix of the encoding, give or take the last
// piece). A piece of n bytes has at least n / MaxTokenBytes tokens, so a
// long run of one class of characters is not merged when it alone would
// reach the limit. It bounds the work a prompt too long for the context
// costs before it is refused.
func (t *Tokenizer) EncodeLimit(text string, limit int) (ids []int, complete bool) {
	ids = make([]int, 0, min(len(text)/4+1, limit+1))
	for piece := range pieces(text) {
		if len(ids) >= limit || len(ids)+(len(piece)+t.maxLen-1)/t.maxLen > limit {
			return ids, false
		}
		if rank, ok := t.ranks[piece]; ok {
			ids = append(ids, rank)
			continue
		}
		ids = t.appendPiece(ids, piece)
	}
	return ids, len(ids) < limit
}

// appendEncoded appends the ids of text, without special tokens, to ids.
func (t *Tokenizer) appendEncoded(ids []int, text string) []int {
	for piece := range pieces(text) {
		if rank, ok := t.ranks[piece]; ok {
			ids = append(ids, rank)
			continue
		}
		ids = t.appendPiece(ids, piece)
	}
	return ids
}

// appendPiece appends the ids of a piece that is not a token by itself,
// going through the cache for short pieces.
func (t *Tokenizer) appendPiece(ids []int, piece string) []int {
	if len(piece) > cacheMaxPiece {
		return t.appendMerged(ids, piece)
	}
	t.mu.Lock()
	cached, ok := t.cache[piece]
	t.mu.Unlock()
	if ok {
		return append(ids, cached...)
	}
	n := len(ids)
	ids = t.appendMerged(ids, piece)
	merged := append([]int(nil), ids[n:]...)
	t.mu.Lock()
	if len(t.cache) >= cacheMaxEntries {
		clear(t.cache)
	}
	// Clone the key: piece points into the caller's text.
	t.cache[strings.Clone(piece)] = merged
	t.mu.Unlock()
	return ids
}

// Decode returns the text of ids: the concatenation of their bytes. Bytes
// that do not form valid UTF-8 (a character split at the end of ids, say)
// are kept as they are in the returned string, not replaced by U+FFFD; use
// a [StreamDecoder] or strings.ToValidUTF8 where valid text is needed.
// [EndOfText] decodes to "<|endoftext|>". An id out of range gives an error
// that wraps [ErrInvalidID] and names the id and its position.
func (t *Tokenizer) Decode(ids []int) (string, error) {
	n := 0
	for i, id := range ids {
		if id < 0 || id >= len(t.tokens) {
			return "", fmt.Errorf("decode id %d at position %d: %w", id, i, ErrInvalidID)
		}
		n += len(t.tokens[id])
	}
	var b strings.Builder
	b.Grow(n)
	for _, id := range ids {
		b.Write(t.tokens[id])
	}
	return b.String(), nil
}
