package bpe_test

import (
	"fmt"
	"log"

	"github.com/llmbench/llmbench/bpe"
)

func ExampleTokenizer_Encode() {
	tok, err := bpe.New()
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("Hello world")
	text, err := tok.Decode(ids)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ids, text)
	fmt.Println(tok.EncodeSpecial("Hi<|endoftext|>"))
	// Output:
	// [15496 995] Hello world
	// [17250 50256]
}

func ExampleStreamDecoder() {
	tok, err := bpe.New()
	if err != nil {
		log.Fatal(err)
	}
	d := tok.NewStreamDecoder()
	// " 😀" is two tokens: a space and three of the emoji's four bytes,
	// then its last byte.
	for _, id := range tok.Encode("ok 😀") {
		fmt.Printf("%d -> %q\n", id, d.Add(id))
	}
	fmt.Printf("flush -> %q\n", d.Flush())
	// Output:
	// 482 -> "ok"
	// 30325 -> " "
	// 222 -> "😀"
	// flush -> ""
}
