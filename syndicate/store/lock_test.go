package store_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
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
