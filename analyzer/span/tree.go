package span

import "slices"

// Server picks a request's server span in t: the kind=server child of the
// client span clientID, else the first span called one of names, else the
// first kind=server span; nil when there is none.
func (t *Trace) Server(clientID string, names []string) *Span {
	if clientID != "" {
		for _, s := range t.Spans {
			if s.Kind == "server" && s.ParentID == clientID {
				return s
			}
		}
	}
	for _, name := range names {
		if s := t.Find(name, ""); s != nil {
			return s
		}
	}
	for _, s := range t.Spans {
		if s.Kind == "server" {
			return s
		}
	}
	return nil
}

// Descendants returns the spans of t under root, breadth first. A span
// that claims an ancestor as its child is visited once.
func (t *Trace) Descendants(root *Span) []*Span {
	children := make(map[string][]*Span)
	for _, s := range t.Spans {
		if s.ParentID != "" {
			children[s.ParentID] = append(children[s.ParentID], s)
		}
	}
	var out []*Span
	queue := []string{root.SpanID}
	seen := map[string]bool{root.SpanID: true}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, c := range children[id] {
			if seen[c.SpanID] {
				continue
			}
			seen[c.SpanID] = true
			out = append(out, c)
			queue = append(queue, c.SpanID)
		}
	}
	return out
}

// Linking returns the spans among others (e.g. engine steps, which are
// traces of their own) that link to a span of t. s stands in for t's ID
// when t has none.
func (t *Trace) Linking(s *Span, others []*Span) []*Span {
	if len(others) == 0 {
		return nil
	}
	traceID := t.ID
	if traceID == "" && s != nil {
		traceID = s.TraceID
	}
	ids := make(map[string]bool, len(t.Spans))
	for _, sp := range t.Spans {
		ids[sp.SpanID] = true
	}
	var out []*Span
	for _, o := range others {
		if o != nil && slices.ContainsFunc(o.Links, func(l Link) bool {
			return (l.TraceID == traceID || l.TraceID == "") && ids[l.SpanID]
		}) {
			out = append(out, o)
		}
	}
	return out
}

// ByLinkedTrace indexes spans by the trace IDs they link to: an engine
// step linked to several traces (a batch) appears under each.
func ByLinkedTrace(spans []*Span) map[string][]*Span {
	out := make(map[string][]*Span)
	for _, s := range spans {
		if s == nil {
			continue
		}
		var seen []string
		for _, l := range s.Links {
			if slices.Contains(seen, l.TraceID) {
				continue
			}
			seen = append(seen, l.TraceID)
			out[l.TraceID] = append(out[l.TraceID], s)
		}
	}
	return out
}
