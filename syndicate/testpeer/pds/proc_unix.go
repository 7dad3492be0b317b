//go:build unix && !linux

package pds

import "syscall"

// sysProcAttr puts the node process in its own process group, so a kill
// reaches everything it started.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
