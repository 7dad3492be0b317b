package mailpit

import "syscall"

// setDeathSignal kills Mailpit if the test binary dies without cleaning up.
func setDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
