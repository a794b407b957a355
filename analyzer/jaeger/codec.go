package jaeger

import (
	"fmt"

	gogoproto "github.com/gogo/protobuf/proto"
	"google.golang.org/grpc/mem"
)

// Codec is the gRPC codec for Jaeger's api_v2 messages. gogo/protobuf
// generated them, with custom types such as model.TraceID that the standard
// protobuf runtime cannot encode, so a connection to Jaeger's query API
// needs it: grpc.WithDefaultCallOptions(grpc.ForceCodecV2(Codec{})) on a
// client, grpc.ForceServerCodecV2(Codec{}) on a server. Set it per
// connection; do not register it globally. It calls itself "proto", the
// content subtype Jaeger's server expects. Its zero value is ready to use
// and it is safe for concurrent use.
type Codec struct{}

// Name returns "proto".
func (Codec) Name() string { return "proto" }

// Marshal encodes v, which must be a gogo message.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(gogoproto.Message)
	if !ok {
		return nil, fmt.Errorf("gogo codec: %T is not a gogo message", v)
	}
	b, err := gogoproto.Marshal(m)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

// Unmarshal decodes data into v, which must be a gogo message.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(gogoproto.Message)
	if !ok {
		return fmt.Errorf("gogo codec: %T is not a gogo message", v)
	}
	return gogoproto.Unmarshal(data.Materialize(), m)
}
