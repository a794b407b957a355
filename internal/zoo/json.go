package zoo

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// obj is a JSON object that keeps its keys in the order they were given,
// the order the servers' own serializers write them: nlohmann
// ordered_json in llama.cpp (FACTS.md §1a), pydantic field order in vLLM
// (§2a), serde struct order in TGI (§3a). encoding/json sorts map keys,
// so the zoo writes its bodies with this instead.
type obj []kv

// kv is one member of an obj.
type kv struct {
	k string
	v any
}

// encode returns o as compact JSON, the way all four servers write it
// (no spaces; nlohmann dump(-1), pydantic model_dump_json, serde_json).
func encode(o obj) []byte { return appendJSON(nil, o) }

// appendJSON appends v as JSON. It knows the few types the zoo builds its
// bodies from and panics on any other, which is a bug in the zoo.
func appendJSON(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, v)
	case string:
		return appendString(b, v)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case float64:
		return appendFloat(b, v)
	case obj:
		b = append(b, '{')
		for i, m := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, m.k)
			b = append(b, ':')
			b = appendJSON(b, m.v)
		}
		return append(b, '}')
	case []obj:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case []string:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, e)
		}
		return append(b, ']')
	default:
		panic(fmt.Sprintf("zoo: cannot encode %T", v))
	}
}

// appendString writes s as a JSON string. Non-ASCII text stays raw UTF-8,
// as nlohmann (default), pydantic and serde_json write it; invalid UTF-8
// becomes U+FFFD, as llama.cpp's error_handler_t::replace does (§1d).
// Only '"', '\\' and control characters are escaped; encoding/json would
// also escape '<', '>' and '&', which none of the servers do.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// appendFloat writes f the way nlohmann, Python and serde_json agree on
// for the values the zoo produces: the shortest text that round-trips,
// with ".0" kept on whole numbers (100.0, not encoding/json's 100). A NaN
// or an infinity is written as null, as nlohmann does, so a timing divided
// by zero tokens reads null (§1c).
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		return strconv.AppendFloat(b, f, 'e', -1, 64)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return append(b, s...)
}
