package stats_test

import (
	"fmt"

	"github.com/llmbench/llmbench/internal/stats"
)

// Percentiles as k6 reports them: p(90) of 1..10 is 9.1.
func ExamplePercentile() {
	sorted := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	fmt.Println(stats.Percentile(sorted, 50), stats.Percentile(sorted, 90), stats.Percentile(sorted, 99))
	// Output: 5.5 9.1 9.91
}
