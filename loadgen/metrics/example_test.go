package metrics_test

import (
	"fmt"
	"os"
	"time"

	"github.com/llmbench/llmbench/loadgen/metrics"
	"github.com/llmbench/llmbench/runfmt"
)

func Example() {
	r := metrics.NewRegistry()
	ttft, err := r.Get("llm_ttft", metrics.Trend, metrics.Time)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := r.SubMetric("llm_ttft{scenario:chat}"); err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2026, 11, 28, 7, 15, 0, 0, time.UTC)
	for i := 1; i <= 10; i++ {
		scenario := "chat"
		if i%2 == 0 {
			scenario = "rag"
		}
		ttft.Add(start, float64(i*100), map[string]string{"scenario": scenario})
	}
	var checks metrics.Checks
	checks.Add("", "status is 200", true)
	checks.Add("", "status is 200", false)

	s := &runfmt.Summary{Metrics: r.Summary(start, start.Add(10*time.Second), nil), Root: checks.Root()}
	if err := metrics.WriteText(os.Stdout, s, metrics.TextOptions{}); err != nil {
		fmt.Println(err)
	}
	// Output:
	//      ✗ status is 200
	//       ↳  50% — ✓ 1 / ✗ 1
	//
	//      llm_ttft..............: avg=550ms min=100ms med=550ms max=1s    p(90)=910ms p(95)=955ms p(99)=991ms
	//        { scenario:chat }...: avg=500ms min=100ms med=500ms max=900ms p(90)=820ms p(95)=860ms p(99)=892ms
}

// Summaries of two processes merge exactly through their histograms.
func ExampleHistogram_Merge() {
	a, b := metrics.NewHistogram(metrics.DefaultGamma), metrics.NewHistogram(metrics.DefaultGamma)
	for i := 1; i <= 1000; i++ {
		if i%2 == 0 {
			a.Add(float64(i))
		} else {
			b.Add(float64(i))
		}
	}
	var merged metrics.Histogram
	for _, h := range []*runfmt.Histogram{a.Raw(), b.Raw()} {
		if err := merged.Merge(h); err != nil {
			fmt.Println(err)
			return
		}
	}
	// The estimate is within 0.5 % of the exact percentile.
	fmt.Printf("count %d, mean %.1f, p95 %.0f (exact 950.05)\n", merged.Count, merged.Mean(), merged.Quantile(0.95))
	// Output: count 1000, mean 500.5, p95 954 (exact 950.05)
}
