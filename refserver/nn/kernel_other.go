//go:build !amd64 || purego

package nn

import "unsafe"

// prefetchLines does nothing here: Go has no portable prefetch.
func prefetchLines(p unsafe.Pointer, n int) {}
