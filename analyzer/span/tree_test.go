package span

import (
	"slices"
	"testing"
)

func ids(ss []*Span) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.SpanID)
	}
	return out
}

func TestTree(t *testing.T) {
	client := &Span{SpanID: "c", Kind: "client", Name: "llm.request"}
	srv := &Span{SpanID: "s", ParentID: "c", Kind: "server", Name: "POST /generate/stream"}
	other := &Span{SpanID: "o", Kind: "server", Name: "GET /health"}
	queue := &Span{SpanID: "q", ParentID: "s", Name: "queue"}
	prefill := &Span{SpanID: "p", ParentID: "s", Name: "prefill"}
	deep := &Span{SpanID: "d", ParentID: "p", Name: "tokenize"}
	loop := &Span{SpanID: "s2", ParentID: "d", Name: "loop"} // a child that claims to be above
	tr := &Trace{ID: "t1", Spans: []*Span{client, other, srv, queue, prefill, deep, loop}}

	tests := []struct {
		name     string
		clientID string
		names    []string
		want     *Span
	}{
		{"child of the client span", "c", nil, srv},
		{"by name", "", []string{"POST /generate/stream"}, srv},
		{"first server span", "", nil, other},
		{"unknown client: by name", "x", []string{"GET /health"}, other},
	}
	for _, tt := range tests {
		if got := tr.Server(tt.clientID, tt.names); got != tt.want {
			t.Errorf("%s: Server = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := (&Trace{Spans: []*Span{client}}).Server("c", nil); got != nil {
		t.Errorf("Server of a trace without one = %v, want nil", got)
	}

	if got, want := ids(tr.Descendants(srv)), []string{"q", "p", "d", "s2"}; !slices.Equal(got, want) {
		t.Errorf("Descendants(s) = %v, want %v (breadth first)", got, want)
	}
	if got := tr.Descendants(queue); len(got) != 0 {
		t.Errorf("Descendants of a leaf = %v, want none", ids(got))
	}

	step1 := &Span{SpanID: "e1", Name: "engine.step", Links: []Link{{TraceID: "t1", SpanID: "s"}, {TraceID: "t2", SpanID: "z"}}}
	step2 := &Span{SpanID: "e2", Name: "engine.step", Links: []Link{{TraceID: "t2", SpanID: "z"}}}
	step3 := &Span{SpanID: "e3", Name: "engine.step", Links: []Link{{TraceID: "t1", SpanID: "nope"}}}
	steps := []*Span{step1, step2, step3, nil}
	if got, want := ids(tr.Linking(srv, steps)), []string{"e1"}; !slices.Equal(got, want) {
		t.Errorf("Linking = %v, want %v", got, want)
	}
	by := ByLinkedTrace(steps)
	if got, want := ids(by["t2"]), []string{"e1", "e2"}; !slices.Equal(got, want) {
		t.Errorf("ByLinkedTrace[t2] = %v, want %v", got, want)
	}
	if got, want := ids(by["t1"]), []string{"e1", "e3"}; !slices.Equal(got, want) {
		t.Errorf("ByLinkedTrace[t1] = %v, want %v", got, want)
	}
}
