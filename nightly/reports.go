package nightly

import (
	"context"

	"github.com/llmbench/llmbench/reportgen"
)

// reporter writes the HTML reports of a night: package reportgen, or a
// stand-in in tests.
type reporter interface {
	// Write writes runDir/report.html and returns its path.
	Write(ctx context.Context, runDir string) (string, error)
	// WriteCompare writes the comparison of run B against run A to out.
	WriteCompare(ctx context.Context, dirA, dirB, out string) error
}

// reportgenReporter is reporter by package reportgen.
type reportgenReporter struct{ opts reportgen.Options }

func (r reportgenReporter) Write(ctx context.Context, runDir string) (string, error) {
	return reportgen.Write(ctx, runDir, r.opts)
}

func (r reportgenReporter) WriteCompare(ctx context.Context, dirA, dirB, out string) error {
	_, err := reportgen.WriteCompare(ctx, dirA, dirB, out, r.opts)
	return err
}
