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

// TestDigest_Auth: with a username set, the digest logs in (AUTH PLAIN,
// allowed without TLS only to localhost); a wrong password fails the run
// and never shows the password.
func TestDigest_Auth(t *testing.T) {
	const password = "smtp-SECRET-pass"
	e, relay := digestEnv(t, 5, "")
	relay.RequireAuth("brief", password)
	cfg := strings.Replace(readFile(t, e.path("config.yaml")), "tls: none,", `tls: none, username: brief, password: "${SMTP_PASSWORD}",`, 1)
	e.write("config.yaml", cfg)
	e.vars = append(e.vars, "SMTP_PASSWORD=wrong-"+password)
	r := e.run("digest")
	if r.code != 2 || relay.Delivered() != 0 || !strings.Contains(r.stderr, "refused the login") {
		t.Fatalf("a wrong password: %s", r)
	}
	if strings.Contains(r.stdout+r.stderr, password) {
		t.Error("the password was printed")
	}
	e.vars = append(e.vars, "SMTP_PASSWORD="+password)
	if r := e.run("digest"); r.code != 0 {
		t.Fatal(r)
	}
	if relay.Authenticated() == 0 || relay.Delivered() != 5 {
		t.Errorf("logged in %d times, delivered %d", relay.Authenticated(), relay.Delivered())
	}
}
