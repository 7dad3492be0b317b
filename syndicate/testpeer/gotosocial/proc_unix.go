//go:build unix && !linux

package gotosocial

import "syscall"

// sysProcAttr puts the server in its own process group, so Kill reaches everything it started.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
