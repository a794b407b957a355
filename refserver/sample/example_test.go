package sample_test

import (
	"fmt"

	"github.com/llmbench/llmbench/refserver/sample"
)

func Example() {
	p := sample.Params{Temperature: 0.7, TopK: 40, TopP: 0.9, Seed: 42, HasSeed: true}
	if err := p.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	logits := []float32{1.5, 4, 3.9, -2, 0} // one per vocabulary entry
	s := sample.New(p, len(logits))
	toks := make([]int, 8)
	for i := range toks {
		toks[i] = s.Next(logits)
	}
	fmt.Println(toks)
	fmt.Println(sample.Argmax(logits))
	// Output:
	// [1 1 2 1 2 1 2 1]
	// 1
}

func ExampleParams_Validate() {
	err := sample.Params{Temperature: -1, TopP: 1.5}.Validate()
	fmt.Println(err)
	// Output:
	// temperature -1: want a finite number >= 0
	// top_p 1.5: want a number in [0, 1] (0 and 1 mean no limit)
}
