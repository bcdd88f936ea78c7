package lambdarie

import "syscall"

// setParentDeathSignal has the kernel send SIGTERM to the emulator if the
// test process dies without running its cleanup (a -timeout panic, a
// kill), so that no emulator outlives its test binary. (Linux sends it when
// the forking thread exits; Go keeps its threads unless a goroutine exits
// while locked to one, which the testing package does not do.)
func setParentDeathSignal(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGTERM }
