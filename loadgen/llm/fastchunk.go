package llm

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// chunkDecoder decodes stream events into chunks without reflection: at
// 1,000 streams the load generator parses 50,000 events a second, and
// encoding/json was a tenth of its CPU and a fifth of its garbage. It
// handles the JSON the servers send (the chunk fields, exact key names,
// any other member skipped) and gives up on the rest (an "error" member, a
// key that differs from a field's name only in case, a duplicate field, a
// value of the wrong type, malformed JSON); the caller then decodes with
// encoding/json, which reports malformed JSON. Where it succeeds its
// result is what json.Unmarshal gives (FuzzChunkDecoder checks this).
//
// A decoder reuses its storage: a chunk it filled is valid until the next
// decode, except Usage and Timings, which are its own.
type chunkDecoder struct {
	s   string
	i   int
	ids []int // backing array of TokenIDs
	// Backing storage of the text pointers of one chunk.
	text, finish string
	choices      []choice
	msgs         []message
	strs         []string
}

// maxChunkDepth is the nesting the decoder skips through before it gives
// up (encoding/json allows 10,000).
const maxChunkDepth = 64

// decode fills *ch (zeroed first) from the JSON text s; false means "use
// encoding/json".
func (d *chunkDecoder) decode(s string, ch *chunk) bool {
	*ch = chunk{}
	d.s, d.i = s, 0
	d.choices, d.msgs, d.strs = d.choices[:0], d.msgs[:0], d.strs[:0]
	ok := d.members(chunkKeys, 0, func(key string) bool {
		switch key {
		case "text":
			return d.strPtr(&ch.Text, &d.text)
		case "token_ids":
			return d.ints(&ch.TokenIDs)
		case "done":
			return d.boolean(&ch.Done)
		case "timings":
			return d.timings(&ch.Timings)
		case "choices":
			return d.choiceList(&ch.Choices)
		case "finish_reason":
			return d.strPtr(&ch.Finish, &d.finish)
		case "model":
			return d.str(&ch.Model)
		case "usage":
			return d.usage(&ch.Usage)
		case "metrics":
			// vLLM's per-request metrics: once per request; only null here.
			return d.null()
		}
		// "error": kept raw by encoding/json, and rare; only null here.
		ch.Error = nullJSON
		return d.null()
	})
	d.ws()
	return ok && d.i == len(d.s)
}

var (
	nullJSON   = json.RawMessage("null")
	chunkKeys  = []string{"text", "token_ids", "done", "timings", "choices", "finish_reason", "model", "usage", "metrics", "error"}
	choiceKeys = []string{"text", "delta", "message", "finish_reason"}
	usageKeys  = []string{"prompt_tokens", "completion_tokens"}
	// timingKeys are refserver's, then llama.cpp's, which (once per
	// request) are left to encoding/json.
	timingKeys = []string{"queue_s", "ttft_s", "tpot_s", "total_s", "cache_n", "prompt_n", "prompt_ms", "prompt_per_token_ms",
		"prompt_per_second", "predicted_n", "predicted_ms", "predicted_per_token_ms", "predicted_per_second"}
	msgKeys = []string{"content"}
)

// other skips the value of a member that is not a field, unless its key
// matches one of keys but for case (encoding/json would fill the field).
func (d *chunkDecoder) other(key string, keys []string) bool {
	for _, k := range keys {
		if strings.EqualFold(k, key) {
			return false
		}
	}
	return d.skip(0)
}

func (d *chunkDecoder) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips whitespace and returns the next byte (0 at the end).
func (d *chunkDecoder) next() byte {
	d.ws()
	if d.i < len(d.s) {
		return d.s[d.i]
	}
	return 0
}

// object decodes an object, calling member for each key with d at its
// value.
func (d *chunkDecoder) object(member func(key string) bool, depth int) bool {
	return d.container('{', '}', depth, func() bool {
		var key string
		if d.next() != '"' || !d.str(&key) || d.next() != ':' {
			return false
		}
		d.i++
		return member(key)
	})
}

// members decodes an object whose fields are keys: field decodes the
// value of each, and any other member is skipped (see other). A field
// given twice gives up: encoding/json would merge the values.
func (d *chunkDecoder) members(keys []string, depth int, field func(key string) bool) bool {
	var seen uint32
	return d.object(func(key string) bool {
		i := slices.Index(keys, key)
		if i < 0 {
			return d.other(key, keys)
		}
		if seen&(1<<i) != 0 {
			return false
		}
		seen |= 1 << i
		return field(key)
	}, depth)
}

// array decodes an array, calling elem with d at each element.
func (d *chunkDecoder) array(elem func() bool, depth int) bool {
	return d.container('[', ']', depth, elem)
}

// container decodes what lies between open and close: elements separated
// by commas, each consumed by elem.
func (d *chunkDecoder) container(open, close byte, depth int, elem func() bool) bool {
	if d.next() != open || depth > maxChunkDepth {
		return false
	}
	d.i++
	if d.next() == close {
		d.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch d.next() {
		case ',':
			d.i++
		case close:
			d.i++
			return true
		default:
			return false
		}
	}
}

// null consumes a null literal if one is next.
func (d *chunkDecoder) null() bool {
	if d.next() == 'n' && strings.HasPrefix(d.s[d.i:], "null") {
		d.i += 4
		return true
	}
	return false
}

func (d *chunkDecoder) boolean(b *bool) bool {
	switch d.next() {
	case 't':
		if strings.HasPrefix(d.s[d.i:], "true") {
			d.i += 4
			*b = true
			return true
		}
	case 'f':
		if strings.HasPrefix(d.s[d.i:], "false") {
			d.i += 5
			*b = false
			return true
		}
	case 'n':
		return d.null() // null leaves a bool as it is
	}
	return false
}

// str decodes a string into *s (null leaves it as it is).
func (d *chunkDecoder) str(s *string) bool {
	if d.null() {
		return true
	}
	if d.next() != '"' {
		return false
	}
	start := d.i + 1
	for j := start; j < len(d.s); j++ {
		switch c := d.s[j]; {
		case c == '"':
			raw := d.s[start:j]
			if !utf8.ValidString(raw) {
				return d.escaped(s, start) // each invalid byte becomes U+FFFD
			}
			d.i = j + 1
			*s = raw
			return true
		case c == '\\':
			return d.escaped(s, start)
		case c < 0x20:
			return false
		}
	}
	return false
}

// escaped decodes a string with escapes that starts at s[start] (after
// its quote), as encoding/json does.
func (d *chunkDecoder) escaped(s *string, start int) bool {
	var b strings.Builder
	j := start
	for j < len(d.s) {
		c := d.s[j]
		switch {
		case c == '"':
			d.i = j + 1
			*s = b.String()
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if j+1 >= len(d.s) {
				return false
			}
			switch e := d.s[j+1]; e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, ok := hex4(d.s[j+2:])
				if !ok {
					return false
				}
				j += 6
				if utf16.IsSurrogate(r) {
					// A pair gives one rune; a lone half, U+FFFD.
					if strings.HasPrefix(d.s[j:], `\u`) {
						if r2, ok := hex4(d.s[j+2:]); ok {
							if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
								b.WriteRune(dec)
								j += 6
								continue
							}
						}
					}
					r = unicode.ReplacementChar
				}
				b.WriteRune(r)
				continue
			default:
				return false
			}
			j += 2
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			j++
		default:
			r, size := utf8.DecodeRuneInString(d.s[j:])
			b.WriteRune(r) // an invalid byte becomes U+FFFD, as in encoding/json
			j += size
		}
	}
	return false
}

// hex4 reads the four hex digits that start s.
func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[:4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	return r, true
}

// strPtr decodes a string into *p, stored in *store (null sets *p nil).
func (d *chunkDecoder) strPtr(p **string, store *string) bool {
	if d.null() {
		*p = nil
		return true
	}
	if !d.str(store) {
		return false
	}
	*p = store
	return true
}

// number returns the literal of a JSON number.
func (d *chunkDecoder) number() (string, bool) {
	d.ws()
	j := d.i
	if j < len(d.s) && d.s[j] == '-' {
		j++
	}
	switch {
	case j < len(d.s) && d.s[j] == '0':
		j++
	case j < len(d.s) && '1' <= d.s[j] && d.s[j] <= '9':
		j = d.digits(j)
	default:
		return "", false
	}
	if j < len(d.s) && d.s[j] == '.' {
		if k := d.digits(j + 1); k > j+1 {
			j = k
		} else {
			return "", false
		}
	}
	if j < len(d.s) && (d.s[j] == 'e' || d.s[j] == 'E') {
		j++
		if j < len(d.s) && (d.s[j] == '+' || d.s[j] == '-') {
			j++
		}
		if k := d.digits(j); k > j {
			j = k
		} else {
			return "", false
		}
	}
	lit := d.s[d.i:j]
	d.i = j
	return lit, true
}

// digits returns the index after the decimal digits that start at j.
func (d *chunkDecoder) digits(j int) int {
	for j < len(d.s) && '0' <= d.s[j] && d.s[j] <= '9' {
		j++
	}
	return j
}

// integer decodes an int (null leaves it as it is).
func (d *chunkDecoder) integer(n *int) bool {
	if d.null() {
		return true
	}
	lit, ok := d.number()
	if !ok {
		return false
	}
	v, err := strconv.Atoi(lit)
	if err != nil {
		return false // a fraction, an exponent or out of range: encoding/json's error
	}
	*n = v
	return true
}

// float decodes a float64 pointer (null sets it nil).
func (d *chunkDecoder) float(p **float64) bool {
	if d.null() {
		*p = nil
		return true
	}
	lit, ok := d.number()
	if !ok {
		return false
	}
	v, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		return false
	}
	*p = &v
	return true
}

func (d *chunkDecoder) ints(p *[]int) bool {
	if d.null() {
		*p = nil
		return true
	}
	ids := d.ids[:0]
	ok := d.array(func() bool {
		var v int
		if d.next() == 'n' { // null in an []int is a zero
			d.null()
			ids = append(ids, 0)
			return true
		}
		if !d.integer(&v) {
			return false
		}
		ids = append(ids, v)
		return true
	}, 1)
	d.ids = ids
	if !ok {
		return false
	}
	*p = ids
	if *p == nil {
		*p = []int{}
	}
	return true
}

func (d *chunkDecoder) usage(p **usage) bool {
	return pointerTo(d, p, new(usage), usageKeys, 1, func(u *usage, key string) bool {
		if key == "prompt_tokens" {
			return d.integer(&u.PromptTokens)
		}
		return d.integer(&u.CompletionTokens)
	})
}

func (d *chunkDecoder) timings(p **timings) bool {
	return pointerTo(d, p, new(timings), timingKeys, 1, func(t *timings, key string) bool {
		switch key {
		case "queue_s":
			return d.float(&t.Queue)
		case "ttft_s":
			return d.float(&t.TTFT)
		case "tpot_s":
			return d.float(&t.TPOT)
		case "total_s":
			return d.float(&t.Total)
		}
		return false
	})
}

// pointerTo decodes a pointer to an object: null sets *p nil; an object
// fills v (zero) through field, as members does, and sets *p = v.
func pointerTo[T any](d *chunkDecoder, p **T, v *T, keys []string, depth int, field func(v *T, key string) bool) bool {
	if d.null() {
		*p = nil
		return true
	}
	if !d.members(keys, depth, func(key string) bool { return field(v, key) }) {
		return false
	}
	*p = v
	return true
}

// newStr returns a pointer to fresh storage for one string of a choice.
func (d *chunkDecoder) newStr() *string {
	if len(d.strs) == cap(d.strs) {
		d.strs = make([]string, 0, max(8, 2*cap(d.strs))) // earlier pointers keep the old array
	}
	d.strs = d.strs[:len(d.strs)+1]
	p := &d.strs[len(d.strs)-1]
	*p = ""
	return p
}

func (d *chunkDecoder) newMsg() *message {
	if len(d.msgs) == cap(d.msgs) {
		d.msgs = make([]message, 0, max(4, 2*cap(d.msgs)))
	}
	d.msgs = d.msgs[:len(d.msgs)+1]
	m := &d.msgs[len(d.msgs)-1]
	*m = message{}
	return m
}

func (d *chunkDecoder) choiceList(p *[]choice) bool {
	if d.null() {
		*p = nil
		return true
	}
	start := len(d.choices)
	ok := d.array(func() bool {
		var c choice
		if d.null() { // null in a []choice is a zero choice
			d.choices = append(d.choices, c)
			return true
		}
		if !d.members(choiceKeys, 2, func(key string) bool {
			switch key {
			case "text":
				return d.strPtr(&c.Text, d.newStr())
			case "delta":
				return d.msg(&c.Delta)
			case "message":
				return d.msg(&c.Message)
			}
			return d.strPtr(&c.Finish, d.newStr())
		}) {
			return false
		}
		d.choices = append(d.choices, c)
		return true
	}, 1)
	if !ok {
		return false
	}
	*p = d.choices[start:len(d.choices):len(d.choices)]
	if *p == nil {
		*p = []choice{}
	}
	return true
}

func (d *chunkDecoder) msg(p **message) bool {
	var m *message
	if d.next() != 'n' {
		m = d.newMsg()
	}
	return pointerTo(d, p, m, msgKeys, 3, func(m *message, _ string) bool { return d.strPtr(&m.Content, d.newStr()) })
}

// skip consumes any JSON value, checking that it is well formed.
func (d *chunkDecoder) skip(depth int) bool {
	switch c := d.next(); {
	case c == '{':
		return d.object(func(string) bool { return d.skip(depth + 1) }, depth+1)
	case c == '[':
		return d.array(func() bool { return d.skip(depth + 1) }, depth+1)
	case c == '"':
		var s string
		return d.str(&s)
	case c == 't', c == 'f':
		var b bool
		return d.boolean(&b)
	case c == 'n':
		return d.null()
	case c == '-' || '0' <= c && c <= '9':
		_, ok := d.number()
		return ok
	}
	return false
}
