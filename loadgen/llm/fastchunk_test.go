package llm

import (
	"encoding/json"
	"reflect"
	"testing"
)

// chunkEvents are events the decoder must decode itself: what refserver,
// vLLM-style OpenAI servers and the odd corner send.
var chunkEvents = []string{
	`{"text":" t","token_ids":[83]}`,
	`{"done":true,"finish_reason":"length","usage":{"prompt_tokens":1,"completion_tokens":50,"total_tokens":51},"timings":{"queue_s":0,"ttft_s":0.02,"tpot_s":2e-2,"total_s":1.5}}`,
	`{"id":"cmpl-1","object":"text_completion","created":1700000000,"model":"gpt2","choices":[{"index":0,"text":" Hello","logprobs":null,"finish_reason":null}]}`,
	`{"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}`,
	`{"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"Hi \"you\"\n\u00e9\ud83d\ude00"},"finish_reason":null}]}`,
	`{"id":"c","object":"chat.completion.chunk","model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":7}}`,
	`{"choices":[{"message":{"role":"assistant","content":"whole"},"finish_reason":"stop"}],"usage":null,"error":null}`,
	` { "text" : "sp aced" , "token_ids" : [ 1 , -2 , 0 ] } `,
	`{"text":"lone \ud800 half","token_ids":[],"extra":{"a":[1,2.5e-3,true,false,null,{"b":"c"}]}}`,
	`{"text":"caf` + "\xe9" + ` bad byte","choices":[null,{"text":null,"delta":null}]}`,
	`{"text":null,"token_ids":null,"done":null,"model":null,"timings":{"ttft_s":null}}`,
	`{}`,
}

// TestChunkDecoderMatchesJSON: on every event above the decoder must
// succeed and give what json.Unmarshal gives.
func TestChunkDecoderMatchesJSON(t *testing.T) {
	var d chunkDecoder
	for _, ev := range chunkEvents {
		var want, got chunk
		if err := json.Unmarshal([]byte(ev), &want); err != nil {
			t.Fatalf("json.Unmarshal(%s): %v", ev, err)
		}
		if !d.decode(ev, &got) {
			t.Errorf("decode(%s) gave up", ev)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("decode(%s) = %s, want %s", ev, dump(got), dump(want))
		}
	}
}

// TestChunkDecoderGivesUp: what the decoder leaves to encoding/json.
func TestChunkDecoderGivesUp(t *testing.T) {
	for _, ev := range []string{
		`{"error":{"message":"boom","type":"server_error"}}`, // kept raw: encoding/json's job
		`{"Text":"case differs"}`,
		`{"text":"a","text":"b"}`,
		`{"usage":{"prompt_tokens":1},"usage":{"completion_tokens":2}}`,
		`{"token_ids":[1.5]}`,
		`{"token_ids":[1e2]}`,
		`{"model":5}`,
		`{"done":"yes"}`,
		`{"text":"unterminated}`,
		`{"text":"ctl` + "\x01" + `"}`,
		`{"text":"bad \x escape"}`,
		`{"a":01}`,
		`{"a":[1,]}`,
		`{"a":1} trailing`,
		`null`,
		`[1]`,
		``,
	} {
		var d chunkDecoder
		var ch chunk
		if d.decode(ev, &ch) {
			t.Errorf("decode(%q) succeeded, want it to leave the event to encoding/json", ev)
		}
	}
}

// TestChunkDecoderAllocations: a refserver token event decodes without
// allocating once the decoder is warm.
func TestChunkDecoderAllocations(t *testing.T) {
	var d chunkDecoder
	var ch chunk
	ev := chunkEvents[0]
	d.decode(ev, &ch)
	if n := testing.AllocsPerRun(100, func() { d.decode(ev, &ch) }); n != 0 {
		t.Errorf("decode allocates %.1f times per event, want 0", n)
	}
}

// FuzzChunkDecoder: wherever the decoder succeeds, encoding/json must
// succeed too and agree with it.
func FuzzChunkDecoder(f *testing.F) {
	for _, ev := range chunkEvents {
		f.Add(ev)
	}
	f.Add(`{"error":null,"usage":{"prompt_tokens":-0}}`)
	f.Add(`{"text":"\u0041\uD834\uDD1E\/\b\f\r\t"}`)
	f.Fuzz(func(t *testing.T, ev string) {
		var d chunkDecoder
		var got chunk
		if !d.decode(ev, &got) {
			return
		}
		var want chunk
		if err := json.Unmarshal([]byte(ev), &want); err != nil {
			t.Fatalf("decode(%q) succeeded where json.Unmarshal fails: %v", ev, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decode(%q) = %s, want %s", ev, dump(got), dump(want))
		}
	})
}

func dump(ch chunk) string {
	b, _ := json.Marshal(ch)
	return string(b)
}
