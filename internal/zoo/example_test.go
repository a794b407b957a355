package zoo_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/llmbench/llmbench/internal/zoo"
)

// A TGI fake streaming three tokens from its native /generate_stream:
// "data:" with no space, index counted from 1, and no [DONE]; the last
// event carries generated_text and, when asked, details. In a test,
// zoo.Start(t, cfg) does the server setup in one line.
func Example() {
	s := zoo.New(zoo.Config{Kind: zoo.TGI, Tokens: 3})
	ts := httptest.NewUnstartedServer(s)
	ts.Config.ConnContext = s.ConnContext
	ts.Start()
	defer ts.Close()

	resp, err := http.Post(ts.URL+"/generate_stream", "application/json",
		strings.NewReader(`{"inputs":"Hello there","parameters":{"details":true}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(b))
	fmt.Println("served:", s.Served())
	// Output:
	// data:{"index":1,"token":{"id":1000,"text":" tok0","logprob":-0.1,"special":false},"generated_text":null,"details":null}
	//
	// data:{"index":2,"token":{"id":1001,"text":" tok1","logprob":-0.1,"special":false},"generated_text":null,"details":null}
	//
	// data:{"index":3,"token":{"id":1002,"text":" tok2","logprob":-0.1,"special":false},"generated_text":" tok0 tok1 tok2","details":{"finish_reason":"length","generated_tokens":3,"seed":null,"input_length":2}}
	//
	// served: 1
}
