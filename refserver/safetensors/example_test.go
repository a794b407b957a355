package safetensors_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/llmbench/llmbench/refserver/safetensors"
)

func Example() {
	var buf bytes.Buffer
	tensors := []safetensors.Tensor{{
		Name:  "wte",
		DType: safetensors.F16,
		Shape: []int{2, 3},
		Data:  safetensors.EncodeFloat16s([]float32{0.5, -2, 3, 1e-3, 65504, 1e5}),
	}}
	if err := safetensors.Write(&buf, tensors, map[string]string{"format": "pt"}); err != nil {
		log.Fatal(err)
	}

	f, err := safetensors.Parse(buf.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	info, _ := f.Info("wte")
	dst := make([]float32, info.NumElements())
	if err := f.Float32s("wte", dst); err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Names(), info.DType, info.Shape, dst)
	fmt.Println(f.Float32s("wte", make([]float32, 4)))
	// Output:
	// [wte] F16 [2 3] [0.5 -2 3 0.0010004044 65504 +Inf]
	// safetensors: tensor "wte": dst has 4 elements, tensor [2 3] has 6
}
