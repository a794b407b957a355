//go:build race

package loadgen

// raceEnabled reports whether the race detector is on: it slows every
// goroutine switch, which timing checks feel.
const raceEnabled = true
