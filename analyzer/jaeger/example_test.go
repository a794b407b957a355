package jaeger_test

import (
	"fmt"
	"time"

	model "github.com/jaegertracing/jaeger-idl/model/v1"

	"github.com/llmbench/llmbench/analyzer/jaeger"
)

func ExampleConvert() {
	tid := model.NewTraceID(0, 0x4bf92f3577b34da6)
	step := model.NewTraceID(0x1, 0x2)
	s := jaeger.Convert(&model.Span{
		TraceID:       tid,
		SpanID:        0xb7ad6b7169203331,
		OperationName: "POST /generate",
		StartTime:     time.Date(2026, 11, 28, 7, 15, 0, 0, time.UTC),
		Duration:      1200 * time.Millisecond,
		References: []model.SpanRef{
			{TraceID: tid, SpanID: 0x00f067aa0ba902b7, RefType: model.SpanRefType_CHILD_OF},
			{TraceID: step, SpanID: 0x3, RefType: model.SpanRefType_FOLLOWS_FROM},
		},
		Tags:    []model.KeyValue{model.String("span.kind", "server"), model.Int64("gen_ai.usage.output_tokens", 20)},
		Process: &model.Process{ServiceName: "refserver"},
	})
	fmt.Println(s.Service, s.Name, s.Kind)
	fmt.Println("trace ", s.TraceID)
	fmt.Println("parent", s.ParentID)
	fmt.Println("links ", s.Links)
	fmt.Println("tokens", s.Attrs["gen_ai.usage.output_tokens"])
	// Output:
	// refserver POST /generate server
	// trace  00000000000000004bf92f3577b34da6
	// parent 00f067aa0ba902b7
	// links  [{00000000000000010000000000000002 0000000000000003}]
	// tokens 20
}
