// Package e2e holds the tests that cross components: the real refserver,
// Jaeger and Prometheus processes, the load generator and the analyzer,
// run together against causes known in advance. They are slow and assert
// verdicts that a busy machine could legitimately change (a contended host
// is a finding), so they run only under `make e2e` ($LLMBENCH_E2E=1), which
// CI runs after `make test`.
package e2e
