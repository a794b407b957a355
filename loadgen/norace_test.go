//go:build !race

package loadgen

// raceEnabled reports whether the race detector is on.
const raceEnabled = false
