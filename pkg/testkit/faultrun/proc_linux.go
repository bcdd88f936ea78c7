package faultrun

import "syscall"

// sysProcAttr kills the host when the run that started it dies, so no
// orphan keeps the port.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
