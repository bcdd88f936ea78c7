package main

import "syscall"

// sysProcAttr kills the host when the outage run dies, so no orphan keeps
// the port.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
