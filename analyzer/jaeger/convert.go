package jaeger

import (
	"encoding/base64"
	"fmt"
	"slices"

	model "github.com/jaegertracing/jaeger-idl/model/v1"

	"github.com/llmbench/llmbench/analyzer/span"
)

// TraceID formats a Jaeger trace id as 32 lowercase hex digits, zero-padded
// (model.TraceID's own String drops the high half when it is zero).
func TraceID(id model.TraceID) string { return fmt.Sprintf("%016x%016x", id.High, id.Low) }

// SpanID formats a Jaeger span id as 16 lowercase hex digits, zero-padded.
func SpanID(id model.SpanID) string { return fmt.Sprintf("%016x", uint64(id)) }

// Convert turns a Jaeger span into the analyzer's span.
//
// The parent is the first CHILD_OF reference into the span's own trace;
// failing that, a FOLLOWS_FROM reference into its own trace that comes
// first in the list (Jaeger's convention for clients that model the parent
// as follows-from). Every other reference is a link. Jaeger receives an
// OTLP span's parent as the first reference (CHILD_OF) and each OTLP link
// as a further reference, FOLLOWS_FROM (CHILD_OF when the link has the
// attribute opentracing.ref_type=child_of), so OTel links come back as
// links here whatever trace they point into.
//
// The kind is the span.kind tag ("" when there is none); the other tags
// become attributes by type (binary values as standard base64 text, and
// OTel array attributes stay the JSON text Jaeger stores them as). Logs
// become events named by their "event" field (or "message", for
// OpenTracing clients).
func Convert(s *model.Span) *span.Span {
	out := &span.Span{
		TraceID:  TraceID(s.TraceID),
		SpanID:   SpanID(s.SpanID),
		Name:     s.OperationName,
		Start:    s.StartTime,
		Duration: s.Duration,
	}
	if s.Process != nil {
		out.Service = s.Process.ServiceName
	}
	parent := -1
	for i, r := range s.References {
		if r.TraceID == s.TraceID && r.RefType == model.SpanRefType_CHILD_OF {
			parent = i
			break
		}
	}
	if parent < 0 && len(s.References) > 0 {
		if r := s.References[0]; r.TraceID == s.TraceID && r.RefType == model.SpanRefType_FOLLOWS_FROM {
			parent = 0
		}
	}
	for i, r := range s.References {
		if i == parent {
			out.ParentID = SpanID(r.SpanID)
			continue
		}
		out.Links = append(out.Links, span.Link{TraceID: TraceID(r.TraceID), SpanID: SpanID(r.SpanID)})
	}
	if len(s.Tags) > 0 {
		out.Attrs = make(map[string]any, len(s.Tags))
	}
	for i := range s.Tags {
		kv := &s.Tags[i]
		if kv.Key == "span.kind" {
			out.Kind = kv.AsString()
			continue
		}
		out.Attrs[kv.Key] = value(kv)
	}
	for _, l := range s.Logs {
		out.Events = append(out.Events, span.Event{Name: eventName(l.Fields), Time: l.Timestamp})
	}
	return out
}

// value is a tag's value as one of the types span.Span.Attrs holds.
func value(kv *model.KeyValue) any {
	switch kv.VType {
	case model.ValueType_BOOL:
		return kv.VBool
	case model.ValueType_INT64:
		return kv.VInt64
	case model.ValueType_FLOAT64:
		return kv.VFloat64
	case model.ValueType_BINARY:
		return base64.StdEncoding.EncodeToString(kv.VBinary)
	default:
		return kv.VStr
	}
}

// eventName is a log's "event" field, else its "message" field, else "".
func eventName(fields []model.KeyValue) string {
	var msg string
	for i := range fields {
		switch fields[i].Key {
		case "event":
			return fields[i].AsString()
		case "message":
			if msg == "" {
				msg = fields[i].AsString()
			}
		}
	}
	return msg
}

// trace converts the spans of one trace: spans that came twice (Jaeger can
// store a span once per delivery) are kept once, and the spans are ordered
// by start time.
func trace(id string, spans []model.Span) *span.Trace {
	t := &span.Trace{ID: id, Spans: make([]*span.Span, 0, len(spans))}
	seen := make(map[model.SpanID]bool, len(spans))
	for i := range spans {
		if seen[spans[i].SpanID] {
			continue
		}
		seen[spans[i].SpanID] = true
		t.Spans = append(t.Spans, Convert(&spans[i]))
	}
	slices.SortStableFunc(t.Spans, func(a, b *span.Span) int { return a.Start.Compare(b.Start) })
	return t
}

// traces groups spans by trace, in the order each trace first appears.
func traces(spans []model.Span) []*span.Trace {
	var order []model.TraceID
	by := make(map[model.TraceID][]model.Span)
	for _, s := range spans {
		if _, ok := by[s.TraceID]; !ok {
			order = append(order, s.TraceID)
		}
		by[s.TraceID] = append(by[s.TraceID], s)
	}
	out := make([]*span.Trace, 0, len(order))
	for _, id := range order {
		out = append(out, trace(TraceID(id), by[id]))
	}
	return out
}
