//go:build !linux

package packing

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
