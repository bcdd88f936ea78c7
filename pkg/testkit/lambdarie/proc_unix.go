//go:build unix

package lambdarie

import (
	"os"
	"syscall"
)

// sysProcAttr puts the emulator in its own process group, so that kill can
// take down whatever it started that is still in the group. (The emulator
// starts the runtime in a group of its own, and kills it on SIGTERM.)
func sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(attr)
	return attr
}

// terminate asks the emulator to shut down.
func terminate(p *os.Process) { _ = p.Signal(syscall.SIGTERM) }

// kill ends the emulator's process group.
func kill(p *os.Process) {
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	_ = p.Kill()
}
