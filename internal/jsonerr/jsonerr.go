// Package jsonerr says where a JSON document a user wrote went wrong: the
// line and column of a syntax or type error, and that a document that
// ends early ends early, where encoding/json says "unexpected EOF" or
// "unexpected end of JSON input". It imports nothing of llmbench's.
package jsonerr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrEndsEarly is what Describe returns for a document that ends before
// its value does, and ErrEmpty for one with no value at all.
var (
	ErrEndsEarly = errors.New("the JSON ends early (a brace or bracket left open, or the file cut short)")
	ErrEmpty     = errors.New("no JSON value: the document is empty")
)

// Describe returns err, from decoding data, with where in data it
// happened: "line L column C: ..." for a syntax error or a value of the
// wrong type (there, the value's end), ErrEndsEarly for a document cut
// short, ErrEmpty for one with nothing in it, and "line L column C:
// unknown field" for a key that Decoder.DisallowUnknownFields refuses
// (without the position when the key appears more than once). Other
// errors (and nil) come back as they are.
func Describe(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		return ErrEmpty // Decoder.Decode on nothing but space
	case errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &se) && strings.HasPrefix(se.Error(), "unexpected end of JSON input"):
		if len(bytes.TrimSpace(data)) == 0 {
			return ErrEmpty
		}
		return ErrEndsEarly
	case errors.As(err, &se):
		line, col := Position(data, se.Offset-1) // the offending byte
		return fmt.Errorf("line %d column %d: %w", line, col, err)
	case errors.As(err, &te):
		line, col := Position(data, te.Offset-1) // the value's last byte
		return fmt.Errorf("line %d column %d: %w", line, col, err)
	case strings.HasPrefix(err.Error(), unknownField):
		// Decoder.DisallowUnknownFields: encoding/json names the key but
		// not where it is. Where the key appears once, say where.
		name, qerr := strconv.Unquote(strings.TrimPrefix(err.Error(), unknownField))
		if qerr != nil {
			return err
		}
		if off := keyOffset(data, name); off >= 0 {
			line, col := Position(data, off)
			return fmt.Errorf("line %d column %d: unknown field %q", line, col, name)
		}
		return fmt.Errorf("unknown field %q", name)
	}
	return err
}

// unknownField begins encoding/json's error for a key that
// DisallowUnknownFields refuses.
const unknownField = "json: unknown field "

// keyOffset is the index in data of the one key named name, or -1 when
// no key or more than one has that name (which one was meant is not
// known then).
func keyOffset(data []byte, name string) int64 {
	quoted, _ := json.Marshal(name)
	at := int64(-1)
	for i := 0; i < len(data); {
		j := bytes.Index(data[i:], quoted)
		if j < 0 {
			break
		}
		k := i + j + len(quoted)
		if rest := bytes.TrimLeft(data[k:], " \t\r\n"); len(rest) > 0 && rest[0] == ':' {
			if at >= 0 {
				return -1
			}
			at = int64(i + j)
		}
		i = k
	}
	return at
}

// Position is the 1-based line and column of the byte at index i of data.
func Position(data []byte, i int64) (line, col int) {
	i = min(max(i, 0), int64(len(data)))
	before := data[:i]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = int(i) - bytes.LastIndexByte(before, '\n')
	return line, col
}
