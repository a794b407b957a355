package stack

import "syscall"

// sysProcAttr makes the kernel kill the child when this process dies, so
// a test binary that crashes or is killed leaves no Jaeger behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
