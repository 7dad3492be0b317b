package gotosocial

import "syscall"

// sysProcAttr puts the server in its own process group (so Kill reaches everything it started) and has the
// kernel kill it when the test binary dies without running its cleanups (a timeout panic, a SIGKILL).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
