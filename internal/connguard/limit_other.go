//go:build !unix

package connguard

// DefaultMax is 1024 where the OS has no descriptor limit to read.
func DefaultMax() int { return 1024 }
