package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// decodeJSON reads a JSON request body of at most limit bytes into v.
// Unknown fields are ignored, as OpenAI clients send many; a wrong type, a
// syntax error, trailing data or an oversized body is an apiError naming
// the problem.
func decodeJSON(r *http.Request, limit int64, v any) *apiError {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &apiError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error",
				Message: fmt.Sprintf("request body is over %d bytes", limit), kind: "too_large"}
		}
		return badRequest("", "read request body: %v", err)
	}
	return decodeBody(body, v)
}

func decodeBody(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("", "request body is empty: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr):
			field := typeErr.Field
			if field == "" {
				return badRequest("", "request body must be a JSON object, not %s", typeErr.Value)
			}
			return badRequest(field, "%s must be %s, not %s", field, jsonType(typeErr.Type.String()), typeErr.Value)
		case errors.As(err, &syntaxErr):
			return badRequest("", "invalid JSON at byte %d: %v", syntaxErr.Offset, err)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("", "invalid JSON: the body ends early")
		}
		var fe *fieldError
		if errors.As(err, &fe) {
			return badRequest(fe.field, "%s", fe.msg)
		}
		return badRequest("", "invalid JSON: %v", err)
	}
	if dec.More() {
		return badRequest("", "invalid JSON: more than one value in the body")
	}
	return nil
}

func jsonType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	}
	return "a " + goType
}

// fieldError is a decoding error of a field with its own rules.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.msg }

// stringList is a JSON field that is either a string or an array of
// strings, as OpenAI's stop.
type stringList []string

// UnmarshalJSON accepts null, "s" or ["a", "b"].
func (s *stringList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return &fieldError{"stop", "stop must be a string or an array of strings"}
	}
	*s = many
	return nil
}

// promptField is OpenAI's completions prompt: a string, an array of one
// string, or an array of token ids.
type promptField struct {
	text string
	ids  []int
	set  bool
}

// UnmarshalJSON accepts "text", ["text"] or [1, 2, 3].
func (p *promptField) UnmarshalJSON(b []byte) error {
	p.set = true
	if err := json.Unmarshal(b, &p.text); err == nil {
		return nil
	}
	var texts []string
	if err := json.Unmarshal(b, &texts); err == nil {
		if len(texts) != 1 {
			return &fieldError{"prompt", fmt.Sprintf("prompt holds %d strings; refserver takes one prompt per request", len(texts))}
		}
		p.text = texts[0]
		return nil
	}
	if err := json.Unmarshal(b, &p.ids); err == nil {
		return nil
	}
	return &fieldError{"prompt", "prompt must be a string, an array of one string, or an array of token ids"}
}
