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

// errorBody is the JSON of every error answer, OpenAI's shape:
// {"error": {"message", "type", "param", "code"}}.
type errorBody struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Param   string `json:"param,omitempty"`
		Code    int    `json:"code"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	var b errorBody
	b.Error.Message, b.Error.Type, b.Error.Param, b.Error.Code = e.Message, e.Type, e.Param, e.Status
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
