package framework

import "syscall"

// sysProcAttr makes the kernel kill a control-plane process when the process
// that started it dies, so a test binary killed by `go test -timeout` (or a
// localcluster killed with SIGKILL) does not leave an apiserver and etcd
// holding ports and memory behind. (Linux sends it when the forking OS
// thread ends; Go ends threads only when a goroutine exits while locked to
// one, which nothing here does.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
