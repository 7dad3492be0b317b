//go:build unix

package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Lock is an exclusive hold on a state: one process at a time posts and
// mails from it. It is an OS file lock (flock) on "<state>.lock", so it is
// freed when the process dies, however it dies.
type Lock struct {
	f    *os.File
	path string
}

// ErrLocked is returned when another process holds the state.
var ErrLocked = errors.New("the state is in use by another process")

// Acquire takes the lock beside the state at statePath without waiting.
//
// The lock file is opened without following a symlink and must be a
// regular file: whoever can write the state folder could otherwise point
// "<state>.lock" at a file of the bot's user, which taking the lock (and
// writing the holder's PID into it) would overwrite.
func Acquire(statePath string) (*Lock, error) {
	path := statePath + ".lock"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("state folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("locking %s: it is a symlink; remove it (the lock is a plain file the program makes)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("locking %s: not a regular file; remove it (the lock is a plain file the program makes)", path)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := "another process"
		if b, rerr := io.ReadAll(io.LimitReader(f, 32)); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = fmt.Sprintf("process %d", pid)
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s holds %s (a daemon, or another post or digest run); wait for it or stop it", ErrLocked, holder, path)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	// Record who holds it, for the message above, through the locked
	// file itself.
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
	}
	return &Lock{f: f, path: path}, nil
}

// Release frees the lock.
func (l *Lock) Release() error { return l.f.Close() }
