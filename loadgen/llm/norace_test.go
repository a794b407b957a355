//go:build !race

package llm

// raceEnabled reports whether the race detector is on.
const raceEnabled = false
