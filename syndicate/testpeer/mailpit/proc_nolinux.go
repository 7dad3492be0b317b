//go:build unix && !linux

package mailpit

import "syscall"

func setDeathSignal(*syscall.SysProcAttr) {}
