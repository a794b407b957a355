package reportgen_test

import (
	"context"
	"fmt"
	"log"

	"github.com/llmbench/llmbench/reportgen"
)

// Write puts report.html into a run folder; WriteCompare writes the page
// that sets two runs side by side (here: B, on a GPU, against A).
func ExampleWrite() {
	ctx := context.Background()
	opts := reportgen.Options{JaegerUI: "http://127.0.0.1:16686"}
	path, err := reportgen.Write(ctx, "runs/20261128-081133-baseline", opts)
	if err != nil {
		log.Fatal(err) // reportgen.ErrNoECharts: run `make assets`, then rebuild
	}
	fmt.Println(path)
	cmp, err := reportgen.WriteCompare(ctx, "runs/20261128-081133-baseline", "runs/20261128-091500-baseline", "cpu-vs-gpu.html", opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cmp)
}
