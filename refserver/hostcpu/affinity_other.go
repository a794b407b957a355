//go:build !linux

package hostcpu

func affinity() []int { return nil }
