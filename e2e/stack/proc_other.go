//go:build !linux

package stack

import "syscall"

// childSysProcAttr has no parent-death signal outside Linux; Stop must run.
func childSysProcAttr() *syscall.SysProcAttr { return nil }
