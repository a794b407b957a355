package llm_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/llmbench/llmbench/loadgen/llm"
)

func ExampleClient_Do() {
	// A stand-in for an OpenAI-compatible server.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"choices":[{"delta":{"role":"assistant","content":""}}]}`+"\n\n")
		io.WriteString(w, `data: {"choices":[{"delta":{"content":"Hello"}}]}`+"\n\n")
		io.WriteString(w, `data: {"choices":[{"delta":{"content":" there"},"finish_reason":"stop"}]}`+"\n\n")
		io.WriteString(w, `data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}`+"\n\n")
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()

	c, err := llm.New(llm.Config{BaseURL: srv.URL + "/v1", Protocol: llm.OpenAIChat, Model: "gpt2", Stream: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	res := c.Do(context.Background(), llm.Request{
		Messages:  []llm.Message{{Role: "user", Content: "Hi!"}},
		MaxTokens: 16,
	})
	fmt.Printf("ok=%v text=%q chunks=%d tokens=%d/%d (%s) finish=%s ttft=%v tpot=%v\n",
		res.OK, res.Text, res.Chunks, res.InputTokens, res.OutputTokens, res.TokenSource, res.FinishReason,
		res.TTFTMS != nil, res.TPOTMS != nil)
	// Output:
	// ok=true text="Hello there" chunks=2 tokens=5/2 (usage) finish=stop ttft=true tpot=true
}
