package nightly

import (
	"context"

	"github.com/llmbench/llmbench/runfmt/index"
)

// runIndex is the run index (web/index) as the nightly job uses it: the
// history of a suite's metrics, and a Sync once the night's verdicts are
// written.
type runIndex struct{ ix *index.Index }

// openIndex opens (and Syncs) the index of the runs folder.
func openIndex(ctx context.Context, runsDir string) (*runIndex, error) {
	ix, err := index.Open(ctx, runsDir)
	if err != nil {
		return nil, err
	}
	return &runIndex{ix: ix}, nil
}

func (r *runIndex) points(ctx context.Context, suite, metric string) ([]point, error) {
	// Every scenario and target: the run folder's name picks the entry
	// (the index's scenario is the script's name, its target the URL,
	// and the URL of a CI runner's server may change from night to night).
	pts, err := r.ix.History(ctx, suite, "", "", metric, 0)
	if err != nil {
		return nil, err
	}
	out := make([]point, len(pts))
	for i, p := range pts {
		out[i] = point{Night: p.Night, RunID: p.RunID, Value: p.Value}
	}
	return out, nil
}

func (r *runIndex) sync(ctx context.Context) error { return r.ix.Sync(ctx) }

// Close closes the index's database.
func (r *runIndex) Close() error { return r.ix.Close() }
