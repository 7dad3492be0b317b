package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gofrs/flock"
)

// Lock is an exclusive hold on a state: one process at a time posts and
// mails from it. It is an OS file lock on "<state>.lock", so it is freed
// when the process dies, however it dies.
type Lock struct {
	f    *flock.Flock
	path string
}

// ErrLocked is returned when another process holds the state.
var ErrLocked = errors.New("the state is in use by another process")

// Acquire takes the lock beside the state at statePath without waiting.
func Acquire(statePath string) (*Lock, error) {
	path := statePath + ".lock"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("state folder: %w", err)
	}
	f := flock.New(path, flock.SetPermissions(0o600))
	ok, err := f.TryLock()
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if !ok {
		holder := "another process"
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				holder = fmt.Sprintf("process %d", pid)
			}
		}
		return nil, fmt.Errorf("%w: %s holds %s (a daemon, or another post or digest run); wait for it or stop it", ErrLocked, holder, path)
	}
	// Record who holds it, for the message above. The lock is on the
	// open file, so rewriting its content is safe.
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		f.Unlock()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return &Lock{f: f, path: path}, nil
}

// Release frees the lock.
func (l *Lock) Release() error { return l.f.Unlock() }
