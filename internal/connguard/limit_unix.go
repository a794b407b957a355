//go:build unix

package connguard

import "syscall"

// DefaultMax is half the process's file-descriptor limit (its soft
// RLIMIT_NOFILE), less a few for files and sockets of its own, and between
// 16 and 4096: over it, a server answers 503 rather than run out of
// descriptors for the connections it already has.
func DefaultMax() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur == 0 {
		return 1024
	}
	return clamp(int(min(r.Cur, 1<<20))/2 - 32)
}

func clamp(n int) int { return min(max(n, 16), 4096) }
