//go:build !unix

package lambdarie

import (
	"os"
	"syscall"
)

// sysProcAttr has nothing to set where there are no process groups.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// terminate ends the emulator: without signals there is no graceful way.
func terminate(p *os.Process) { _ = p.Kill() }

// kill ends the emulator.
func kill(p *os.Process) { _ = p.Kill() }
