package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/llmbench/llmbench/refserver/engine"
)

// apiError is an error with the HTTP status and the OpenAI-style type it is
// answered with.
type apiError struct {
	Status  int
	Type    string // invalid_request_error, overloaded_error, ...
	Param   string // the request field at fault, if one is
	Message string
	kind    string // the llm_errors_total label
}

func (e *apiError) Error() string { return e.Message }

func badRequest(param, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: param,
		Message: fmt.Sprintf(format, args...), kind: "bad_request"}
}

// fromEngine maps an engine.Submit error to its HTTP answer.
func fromEngine(err error) *apiError {
	switch {
	case errors.Is(err, engine.ErrQueueFull):
		return &apiError{Status: http.StatusTooManyRequests, Type: "overloaded_error",
			Message: "server is busy: " + err.Error() + "; retry later", kind: "queue_full"}
	case errors.Is(err, engine.ErrClosed):
		return shuttingDown()
	case errors.Is(err, engine.ErrTooLong):
		return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: "max_tokens",
			Message: err.Error(), kind: "bad_request"}
	case errors.Is(err, engine.ErrBadRequest):
		return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Message: err.Error(), kind: "bad_request"}
	}
	return &apiError{Status: http.StatusInternalServerError, Type: "server_error", Message: err.Error(), kind: "internal"}
}

func shuttingDown() *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Type: "unavailable_error",
		Message: "server is shutting down", kind: "shutting_down"}
}

// errorBody is the JSON of every error answer, OpenAI's shape
// (internal/zoo/FACTS.md §4e): {"error": {"message", "type", "param",
// "code"}}, param and code a string or null.
type errorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// errorCodes are OpenAI's codes for the errors that have one; the others
// have code null, as OpenAI's do.
var errorCodes = map[string]string{
	"queue_full": "rate_limit_exceeded",
	"not_found":  "not_found",
	"too_large":  "request_too_large",
	"timeout":    "timeout",
}

// body is e's JSON body.
func (e *apiError) body() errorBody {
	var b errorBody
	b.Error.Message, b.Error.Type = e.Message, e.Type
	if e.Param != "" {
		b.Error.Param = &e.Param
	}
	if c, ok := errorCodes[e.kind]; ok {
		b.Error.Code = &c
	}
	return b
}

func writeError(w http.ResponseWriter, e *apiError) {
	b := e.body()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	switch e.Status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		h.Set("Retry-After", strconv.Itoa(1))
	}
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
