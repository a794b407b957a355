package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"
)

// bodyDeadline gives a request's body bodyTimeout to arrive: it sets the
// connection's read deadline when the request comes in and clears it once
// the body has been read to its end. (http.Server's ReadTimeout would also
// end the request's context while a long answer streams.) It must wrap the
// handlers from the outside, where w is still net/http's own.
func bodyDeadline(next http.Handler, bodyTimeout time.Duration) http.Handler {
	if bodyTimeout <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(bodyTimeout)) == nil {
				r.Body = &untilEOF{ReadCloser: r.Body, done: func() { rc.SetReadDeadline(time.Time{}) }}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// untilEOF calls done once its reader reaches the end.
type untilEOF struct {
	io.ReadCloser
	done func()
	once sync.Once
}

func (u *untilEOF) Read(p []byte) (int, error) {
	n, err := u.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		u.once.Do(u.done)
	}
	return n, err
}

// decodeJSON reads a JSON request body of at most limit bytes into v.
// Unknown fields are ignored, as OpenAI clients send many; a wrong type, a
// syntax error, trailing data or an oversized body is an apiError naming
// the problem.
func decodeJSON(r *http.Request, limit int64, bodyTimeout time.Duration, v any) *apiError {
	// A body announced as too large is refused before it is read, so a
	// client that waits for 100 Continue gets its answer at once.
	if r.ContentLength > limit {
		return &apiError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error",
			Message: fmt.Sprintf("request body is over %d bytes (Content-Length %d)", limit, r.ContentLength), kind: "too_large"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return &apiError{Status: http.StatusRequestTimeout, Type: "invalid_request_error",
				Message: fmt.Sprintf("the request body did not arrive within %v", bodyTimeout), kind: "timeout"}
		}
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
	switch t := bytes.TrimSpace(body); {
	case len(t) == 0:
		return badRequest("", "request body is empty: want a JSON object")
	case string(t) == "null":
		return badRequest("", "request body must be a JSON object, not null")
	}
	if e := checkKeys(body, v); e != nil {
		return e
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
			field = jsonPath(field)
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

// jsonPath is a decoding error's field path as the client wrote it: the
// Go names of embedded structs (openaiCommon.stream) left out.
func jsonPath(field string) string {
	var keep []string
	for _, seg := range strings.Split(field, ".") {
		if strings.ToLower(seg) == seg {
			keep = append(keep, seg)
		}
	}
	if len(keep) == 0 {
		return field
	}
	return strings.Join(keep, ".")
}

// checkKeys refuses a top-level key that matches a field of v only when
// case is ignored ("PROMPT"): encoding/json would take it for the field,
// where the API's keys are case-sensitive. Other unknown keys are left
// alone, as OpenAI clients send many.
func checkKeys(body []byte, v any) *apiError {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return nil // not an object: Decode says what is wrong
	}
	known := jsonFields(reflect.TypeOf(v))
	for key := range obj {
		if known[key] {
			continue
		}
		for name := range known {
			if strings.EqualFold(name, key) {
				return badRequest(key, "unknown field %q: JSON keys are case-sensitive; did you mean %q?", key, name)
			}
		}
	}
	return nil
}

// jsonFields are the JSON names of a struct's fields, embedded structs'
// included.
func jsonFields(t reflect.Type) map[string]bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	out := map[string]bool{}
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			for k := range jsonFields(f.Type) {
				out[k] = true
			}
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = true
	}
	return out
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

// contentText reads chat message i's content: a string; an array of
// content parts, of which refserver takes text ones only, joined by
// newlines (as vLLM joins them); or null or absent, which is empty.
func contentText(i int, raw json.RawMessage) (string, *apiError) {
	field := fmt.Sprintf("messages[%d].content", i)
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return text, nil
	}
	var parts []json.RawMessage
	if json.Unmarshal(raw, &parts) != nil {
		return "", badRequest(field, "%s must be a string or an array of text parts, not %s", field, jsonKind(raw))
	}
	texts := make([]string, 0, len(parts))
	for j, p := range parts {
		var part struct {
			Type string  `json:"type"`
			Text *string `json:"text"`
		}
		if json.Unmarshal(p, &part) != nil {
			return "", badRequest(field, `%s[%d] must be a part {"type": "text", "text": ...}, not %s`, field, j, jsonKind(bytes.TrimSpace(p)))
		}
		if part.Type != "text" {
			return "", badRequest(field, "%s[%d].type is %q: refserver takes text parts only", field, j, part.Type)
		}
		if part.Text == nil {
			return "", badRequest(field, "%s[%d].text is missing", field, j)
		}
		texts = append(texts, *part.Text)
	}
	return strings.Join(texts, "\n"), nil
}

// jsonKind names the kind of a JSON value by its first byte.
func jsonKind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "true or false"
	case 'n':
		return "null"
	}
	return "number"
}

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
