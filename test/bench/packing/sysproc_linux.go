package packing

import "syscall"

// sysProcAttr has the kernel kill a scheduler when the benchmark that started
// it dies, so a benchmark killed by `go test -timeout` leaves none behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
