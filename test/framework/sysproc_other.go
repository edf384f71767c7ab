//go:build !linux

package framework

import "syscall"

// sysProcAttr has no parent-death signal to ask for outside Linux; Stop is
// the only way the processes end there.
func sysProcAttr() *syscall.SysProcAttr { return nil }
