package stack

import "syscall"

// childSysProcAttr makes the kernel SIGKILL a child when the test binary or
// demo dies without running its cleanups (a panic, a timeout kill), so no
// Envoy or hookguard is left holding ports on the machine. Its own process
// group keeps a terminal's Ctrl-C away from the children: the demo stops
// them itself, in order, instead of racing them.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
