package server

import (
	"encoding/json"
	"net/http"
)

// sseWriter writes Server-Sent Events, flushing each one through whatever
// middleware wraps the ResponseWriter. Not safe for concurrent use.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func newSSE(w http.ResponseWriter) *sseWriter {
	return &sseWriter{w: w, rc: http.NewResponseController(w)}
}

// start sends the headers of the event stream.
func (s *sseWriter) start() error {
	if s.started {
		return nil
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
	return s.rc.Flush()
}

// data sends one event whose data is v as JSON.
func (s *sseWriter) data(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.raw(b)
}

// raw sends one event with the given data line.
func (s *sseWriter) raw(b []byte) error {
	if err := s.start(); err != nil {
		return err
	}
	buf := make([]byte, 0, len(b)+8)
	buf = append(buf, "data: "...)
	buf = append(buf, b...)
	buf = append(buf, '\n', '\n')
	if _, err := s.w.Write(buf); err != nil {
		return err
	}
	return s.rc.Flush()
}

// done sends the closing "data: [DONE]".
func (s *sseWriter) done() error { return s.raw([]byte("[DONE]")) }

// fail sends an error event in the stream, OpenAI's shape.
func (s *sseWriter) fail(e *apiError) error {
	return s.data(e.body())
}
