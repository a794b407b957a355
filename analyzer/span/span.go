// Package span is the analyzer's view of a trace span, whatever store it
// came from (Jaeger's query API, a test's hand-built trace). It imports
// nothing else from the repository.
package span

import "time"

// Span is one span of a trace.
type Span struct {
	TraceID  string // 32 lowercase hex digits
	SpanID   string // 16 lowercase hex digits
	ParentID string // "" for a root span
	Service  string // the process's service.name, e.g. "refserver", "llmbench"
	Name     string // the operation, e.g. "queue_wait", "POST /generate/stream", "llm.request"
	Kind     string // "client", "server", "internal", "producer", "consumer" or ""
	Start    time.Time
	Duration time.Duration
	// Attrs holds the attributes: string, int64, float64, bool, or []string
	// values.
	Attrs  map[string]any
	Events []Event
	Links  []Link
}

// End is Start + Duration.
func (s *Span) End() time.Time { return s.Start.Add(s.Duration) }

// Float returns a numeric attribute as a float64.
func (s *Span) Float(key string) (float64, bool) {
	switch v := s.Attrs[key].(type) {
	case float64:
		return v, true
	case int64:
		return float64(v), true
	case int:
		return float64(v), true
	}
	return 0, false
}

// Event is a timestamped event of a span (Jaeger calls them logs).
type Event struct {
	Name string
	Time time.Time
}

// Link points at a span of another (or the same) trace.
type Link struct {
	TraceID string
	SpanID  string
}

// Trace is the spans of one trace.
type Trace struct {
	ID    string
	Spans []*Span
}

// Find returns the first span with the given name and, when service is
// not empty, service; nil when there is none.
func (t *Trace) Find(name, service string) *Span {
	for _, s := range t.Spans {
		if s.Name == name && (service == "" || s.Service == service) {
			return s
		}
	}
	return nil
}
