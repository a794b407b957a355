package jaeger_test

import (
	"reflect"
	"testing"
	"time"

	model "github.com/jaegertracing/jaeger-idl/model/v1"

	"github.com/llmbench/llmbench/analyzer/jaeger"
	"github.com/llmbench/llmbench/analyzer/span"
)

func TestConvert(t *testing.T) {
	own := traceID("a1")                                 // high half zero: still 32 digits
	other := traceID("fedcba98765432100123456789abcdef") // another trace, for links
	const ownHex = "000000000000000000000000000000a1"
	ref := func(tid model.TraceID, id uint64, typ model.SpanRefType) model.SpanRef {
		return model.SpanRef{TraceID: tid, SpanID: model.SpanID(id), RefType: typ}
	}
	base := func(refs ...model.SpanRef) model.Span {
		return model.Span{TraceID: own, SpanID: 0x2b, OperationName: "op", StartTime: t0, Duration: time.Second,
			Process: &model.Process{ServiceName: "refserver"}, References: refs}
	}
	wantBase := func(parent string, links ...span.Link) *span.Span {
		return &span.Span{TraceID: ownHex, SpanID: "000000000000002b", ParentID: parent, Service: "refserver",
			Name: "op", Start: t0, Duration: time.Second, Links: links}
	}

	tagged := base()
	tagged.Tags = []model.KeyValue{
		model.String("span.kind", "client"),
		model.String("gen_ai.request.model", "gpt2"),
		model.Bool("stream", true),
		model.Int64("gen_ai.usage.output_tokens", 20),
		model.Float64("decode.mean_batch", 3.5),
		model.Binary("blob", []byte{0xff, 0x00}),
		model.String("tags", `["a","b"]`),
	}
	tagged.Logs = []model.Log{
		{Timestamp: t0.Add(time.Millisecond), Fields: []model.KeyValue{model.String("at", "x"), model.String("event", "first_token")}},
		{Timestamp: t0.Add(2 * time.Millisecond), Fields: []model.KeyValue{model.String("message", "flushed")}},
		{Timestamp: t0.Add(3 * time.Millisecond)},
	}
	wantTagged := wantBase("")
	wantTagged.Kind = "client"
	wantTagged.Attrs = map[string]any{
		"gen_ai.request.model":       "gpt2",
		"stream":                     true,
		"gen_ai.usage.output_tokens": int64(20),
		"decode.mean_batch":          3.5,
		"blob":                       "/wA=",
		"tags":                       `["a","b"]`,
	}
	wantTagged.Events = []span.Event{
		{Name: "first_token", Time: t0.Add(time.Millisecond)},
		{Name: "flushed", Time: t0.Add(2 * time.Millisecond)},
		{Name: "", Time: t0.Add(3 * time.Millisecond)},
	}

	noProcess := base()
	noProcess.Process = nil
	wantNoProcess := wantBase("")
	wantNoProcess.Service = ""

	for _, tc := range []struct {
		name string
		in   model.Span
		want *span.Span
	}{
		{name: "root with tags and logs", in: tagged, want: wantTagged},
		{name: "child of", in: base(ref(own, 0x1, model.SpanRefType_CHILD_OF)), want: wantBase("0000000000000001")},
		{
			name: "links beside the parent",
			in: base(ref(other, 0x7, model.SpanRefType_FOLLOWS_FROM), ref(own, 0x1, model.SpanRefType_CHILD_OF),
				ref(other, 0x8, model.SpanRefType_CHILD_OF)),
			want: wantBase("0000000000000001",
				span.Link{TraceID: "fedcba98765432100123456789abcdef", SpanID: "0000000000000007"},
				span.Link{TraceID: "fedcba98765432100123456789abcdef", SpanID: "0000000000000008"}),
		},
		{name: "follows-from parent", in: base(ref(own, 0x1, model.SpanRefType_FOLLOWS_FROM)), want: wantBase("0000000000000001")},
		{
			name: "root linked into its own trace",
			in:   base(ref(other, 0x7, model.SpanRefType_FOLLOWS_FROM), ref(own, 0x1, model.SpanRefType_FOLLOWS_FROM)),
			want: wantBase("",
				span.Link{TraceID: "fedcba98765432100123456789abcdef", SpanID: "0000000000000007"},
				span.Link{TraceID: ownHex, SpanID: "0000000000000001"}),
		},
		{name: "no process", in: noProcess, want: wantNoProcess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := jaeger.Convert(&tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trace   model.TraceID
		span    model.SpanID
		wantTID string
		wantSID string
	}{
		{name: "small", trace: model.NewTraceID(0, 1), span: 1,
			wantTID: "00000000000000000000000000000001", wantSID: "0000000000000001"},
		{name: "full", trace: model.NewTraceID(0xfedcba9876543210, 0x0123456789abcdef), span: 0xfedcba9876543210,
			wantTID: "fedcba98765432100123456789abcdef", wantSID: "fedcba9876543210"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := jaeger.TraceID(tc.trace); got != tc.wantTID {
				t.Errorf("TraceID = %q, want %q", got, tc.wantTID)
			}
			if got := jaeger.SpanID(tc.span); got != tc.wantSID {
				t.Errorf("SpanID = %q, want %q", got, tc.wantSID)
			}
		})
	}
}
