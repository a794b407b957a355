// Package faults is llmbench's fault-injection suite: tests, run by `make
// test`, that break one part of the platform on purpose and check that the
// rest behaves as promised (issue 7, "Faults"). It holds no code of its own
// besides this comment; every fault is a test with one stated expectation:
//
//   - Jaeger killed mid-run (TestJaegerKilledMidRun): the load goes on, the
//     run folder is complete, and the analyzer reports the missing traces
//     and still attributes every request, in bounded time.
//   - Prometheus down (TestPrometheusDown): the analysis goes on without
//     series and says so.
//   - refserver killed mid-run (TestRefserverKilledMidRun): the requests
//     fail with the connect or truncated error class, the run records them,
//     and a threshold on llm_errors fails the run (exit code 99).
//   - refserver overloaded (TestRefserverOverloaded): the 429s are counted
//     as such and the client does not hang.
//   - a disconnect storm (TestDisconnectStorm): 200 streaming clients
//     cancel; refserver frees every slot and leaks no goroutine.
//   - hostile SSE (TestHostileSSE): garbage, huge lines, endless lines,
//     bad JSON and stalls are each reported with an error class; the load
//     generator neither crashes nor hangs.
//   - storage (TestCorruptRunFolder, TestCorruptIndex, TestDiskFull): a
//     corrupt run.json is listed as broken, a garbage index is rebuilt, and
//     a full disk loses nothing already recorded and says what happened.
//   - security (TestSecurityDefaults): loopback defaults, escaped reports,
//     web paths that cannot leave the runs folder, and size limits.
//
// The tests start refserver in-process (or, to kill it, as a child process
// built with `go build`), and the real Jaeger of internal/stack. Every test is
// bounded by a context and talks to 127.0.0.1 only. Without the pinned
// Jaeger (`make tools`) the Jaeger test is skipped, or fails under
// LLMBENCH_INTEGRATION=1 as the other integration tests do.
package faults
