package telemetry

import (
	"context"
	"log/slog"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// logEvery is the least time between two log lines about failing exports.
const logEvery = time.Minute

// quietExporter wraps a span exporter so that a collector that is down
// costs a log line a minute, not one per batch. It logs the first failed
// export, counts the failures after it and reports their number at most
// once per logEvery, and says once when exports work again.
//
// It returns nil for failed exports: the batch span processor would hand
// them to the global otel error handler, which logs every one. The spans
// of a failed export are dropped either way; the processor never retries.
type quietExporter struct {
	sdktrace.SpanExporter
	log      *slog.Logger
	endpoint string
	now      func() time.Time // time.Now; tests set a fake clock

	mu         sync.Mutex
	lastLog    time.Time // when a failure line was last written; zero: never
	unresolved bool      // a failure line was written and no recovery line since
	failures   int       // failed exports not yet reported in the log
	spans      int       // spans in them
}

func newQuietExporter(exp sdktrace.SpanExporter, log *slog.Logger, endpoint string) *quietExporter {
	return &quietExporter{SpanExporter: exp, log: log, endpoint: endpoint, now: time.Now}
}

// ExportSpans sends spans with the wrapped exporter and logs the outcome
// as the type's comment says. It never returns an error.
func (q *quietExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := q.SpanExporter.ExportSpans(ctx, spans)
	q.mu.Lock()
	defer q.mu.Unlock()
	if err == nil {
		if q.unresolved {
			q.log.Info("trace export works again", "endpoint", q.endpoint,
				"failed_exports_since_last_log", q.failures, "spans_dropped_since_last_log", q.spans)
			q.unresolved, q.failures, q.spans = false, 0, 0
		}
		return nil
	}
	q.failures++
	q.spans += len(spans)
	now := q.now()
	if !q.lastLog.IsZero() && now.Sub(q.lastLog) < logEvery {
		return nil
	}
	q.log.Warn("trace export failing; spans are dropped, serving is not affected",
		"endpoint", q.endpoint, "err", err,
		"failed_exports", q.failures, "spans_dropped", q.spans, "next_report_in", logEvery)
	q.lastLog, q.unresolved, q.failures, q.spans = now, true, 0, 0
	return nil
}

// Shutdown shuts the wrapped exporter down and reports the failures not
// yet in the log.
func (q *quietExporter) Shutdown(ctx context.Context) error {
	err := q.SpanExporter.Shutdown(ctx)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failures > 0 {
		q.log.Warn("trace export failures since the last report", "endpoint", q.endpoint,
			"failed_exports", q.failures, "spans_dropped", q.spans)
		q.failures, q.spans = 0, 0
	}
	return err
}
