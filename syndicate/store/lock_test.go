package store_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/syndicate-bot/syndicate/syndicate/store"
)

func TestAcquire(t *testing.T) {
	path := statePath(t)
	l, err := store.Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file mode %04o, want 0600", fi.Mode().Perm())
	}
	_, err = store.Acquire(path)
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("process %d holds", os.Getpid())) {
		t.Errorf("a second Acquire = %v, want ErrLocked naming this process", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l, err = store.Acquire(path)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l.Release()
}

// ATTACK: a symlink planted as the lock file (by whoever can write the
// state folder) must not make taking the lock overwrite its target.
func TestAcquire_RefusesASymlink(t *testing.T) {
	path := statePath(t)
	target := path + ".precious"
	os.MkdirAll(filepath.Dir(path), 0o700)
	if err := os.WriteFile(target, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path+".lock"); err != nil {
		t.Fatal(err)
	}
	if l, err := store.Acquire(path); err == nil || !strings.Contains(err.Error(), "symlink") {
		if l != nil {
			l.Release()
		}
		t.Fatalf("Acquire through a symlink = %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep me\n" {
		t.Errorf("the symlink's target became %q", b)
	}
	// A FIFO or a folder in its place is refused too, without blocking.
	os.Remove(path + ".lock")
	if err := syscall.Mkfifo(path+".lock", 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Acquire(path); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Acquire on a FIFO = %v", err)
	}
}
