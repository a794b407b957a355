package attribution

import (
	"fmt"
	"slices"

	"github.com/llmbench/llmbench/runfmt"
)

// Clock summarizes what Attribute saw of the client and server clocks over
// a run. Checked counts the requests whose server span was laid against
// the client's times and Violations those that did not nest. When there
// are violations, SkewMS is the median of every checked request's
// NTP-style estimate (the network's asymmetry averages out over many
// requests, and a clock offset is the same for all of them); otherwise it
// is 0. A caller that wants one offset for the whole run passes it back as
// Options.Skew on a second pass.
func Clock(infos []Info) runfmt.Clock {
	var c runfmt.Clock
	var est []float64
	for _, in := range infos {
		if !in.Checked {
			continue
		}
		c.Checked++
		est = append(est, ms(in.EstimatedSkew))
		if in.Violation {
			c.Violations++
		}
	}
	if c.Violations == 0 {
		if c.Checked > 0 {
			c.Note = fmt.Sprintf("all %d server spans nested in their client spans", c.Checked)
		}
		return c
	}
	slices.Sort(est)
	c.SkewMS = percentile(est, 50)
	c.Note = fmt.Sprintf("%d of %d server spans did not nest in their client spans: server − client clock offset %.1f ms (median NTP-style estimate)",
		c.Violations, c.Checked, c.SkewMS)
	return c
}
