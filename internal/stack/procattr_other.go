//go:build !linux

package stack

import "syscall"

// sysProcAttr has nothing to add off Linux: a child outlives a test
// binary that is killed.
func sysProcAttr() *syscall.SysProcAttr { return nil }
