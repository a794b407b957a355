package prom_test

import (
	"fmt"

	"github.com/llmbench/llmbench/analyzer/prom"
	"github.com/llmbench/llmbench/runfmt"
)

func ExampleMax() {
	queue := runfmt.Series{Name: prom.QueueDepth, Unit: "requests", Points: [][2]float64{
		{1700000000, 2}, {1700000003, 14}, {1700000006, 5},
	}}
	peak, at, _ := prom.Max(queue)
	mean, _ := prom.Mean(queue)
	fmt.Printf("queue depth peaked at %g %s (%s), mean %g\n", peak, queue.Unit, at.UTC().Format("15:04:05"), mean)
	// Output: queue depth peaked at 14 requests (22:13:23), mean 7
}
