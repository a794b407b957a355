//go:build race

package llm

// raceEnabled reports whether the race detector is on: it multiplies the
// cost of every goroutine switch, which TestMeasurementTruth feels.
const raceEnabled = true
