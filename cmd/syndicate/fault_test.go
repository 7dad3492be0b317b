package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// TestFault_421ClosesTheConnection: a relay that answers 421 (closing the
// connection) gets the reader again on a fresh connection.
func TestFault_421ClosesTheConnection(t *testing.T) {
	e, relay := digestEnv(t, 20, "")
	relay.SetReply(func(rcpt string, try int) *smtp.SMTPError {
		if rcpt == "reader005@example.org" && try == 1 {
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down"}
		}
		return nil
	})
	if r := e.run("digest"); r.code != 0 {
		t.Fatal(r)
	}
	if dups := wantEveryReader(t, relay, 20); dups != 0 {
		t.Errorf("%d duplicates", dups)
	}
}

// TestFault_FullDisk puts the state on a tmpfs too small for the send:
// the run stops with a clear error, nothing already recorded is lost,
// and once there is room a rerun mails everyone not yet mailed. It needs
// root to mount the tmpfs, and skips without.
func TestFault_FullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs for the state")
	}
	e, relay := digestEnv(t, 3000, "")
	dir := e.path("state")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	defer exec.Command("umount", "-l", dir).Run()

	r := e.run("digest")
	if r.code == 0 {
		t.Fatalf("the send fitted in the small disk; make the list longer: %s", r)
	}
	if !strings.Contains(r.stderr, "full") {
		t.Errorf("the error does not say the disk is full:\n%s", r.stderr)
	}
	first := relay.Delivered()
	t.Logf("stopped with the disk full after %d of 3000 messages: %s", first, lastLine(r.stderr))

	if out, err := exec.Command("mount", "-o", "remount,size=64m", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	if r := e.run("digest"); r.code != 0 {
		t.Fatal(r)
	}
	dups := wantEveryReader(t, relay, 3000)
	t.Logf("after making room: all 3000 mailed, %d second copies", dups)
	if dups > 36 {
		t.Errorf("%d duplicates: outcomes recorded before the disk filled were lost", dups)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
