package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/syndicate-bot/syndicate/syndicate/mail"
	"github.com/syndicate-bot/syndicate/syndicate/mail/smtptest"
	"github.com/syndicate-bot/syndicate/syndicate/testpeer/dkimcheck"
)

// digestEnv is an installation with n subscribers and a relay.
func digestEnv(t *testing.T, n int, extra string, articles ...string) (*env, *smtptest.Server) {
	t.Helper()
	relay, err := smtptest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	if len(articles) == 0 {
		articles = []string{"shehbaz-sharif-putin-letters.txt", "harbour-library-reopens.md"}
	}
	cfg := fmt.Sprintf(`email:
  from: "Daily Brief <brief@example.org>"
  subscribers: subscribers.csv
  unsubscribe_url: http://127.0.0.1:%d/unsubscribe
  retries: 2
  retry_backoff: 100ms
  smtp: {host: 127.0.0.1, port: %d, tls: none, connections: 4, timeout: 5s}
%s`, freePort(t), relay.Port, extra)
	e := newEnv(t, cfg, articles...)
	var b strings.Builder
	b.WriteString("email,name\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "reader%03d@example.org,Reader %d\n", i, i)
	}
	e.write("subscribers.csv", b.String())
	return e, relay
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// wantEveryReader checks each of n readers got at least one message, and
// returns how many got more than one.
func wantEveryReader(t *testing.T, relay *smtptest.Server, n int) (duplicates int) {
	t.Helper()
	got := relay.ByRecipient()
	for i := 0; i < n; i++ {
		c := got[fmt.Sprintf("reader%03d@example.org", i)]
		if c == 0 {
			t.Errorf("reader%03d was missed", i)
		}
		if c > 1 {
			duplicates += c - 1
		}
	}
	if len(got) != n {
		t.Errorf("%d recipients, want %d", len(got), n)
	}
	return duplicates
}

func TestDigest_ExactlyOnePersonalMessageEach(t *testing.T) {
	e, relay := digestEnv(t, 200, "")
	r := e.run("digest")
	if r.code != 0 || !strings.Contains(r.stdout, "200 sent") {
		t.Fatal(r)
	}
	if dups := wantEveryReader(t, relay, 200); dups != 0 {
		t.Errorf("%d duplicates", dups)
	}
	ids := map[string]bool{}
	for _, m := range relay.Messages() {
		if len(m.To) != 1 {
			t.Fatalf("a message to %d recipients", len(m.To))
		}
		if !strings.Contains(m.Header("List-Unsubscribe"), "?token=") || m.Header("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || m.Header("List-Id") != "<digest.example.org>" {
			t.Errorf("headers: %q %q %q", m.Header("List-Unsubscribe"), m.Header("List-Unsubscribe-Post"), m.Header("List-Id"))
		}
		if ids[m.Header("Message-ID")] {
			t.Errorf("Message-ID %s used twice", m.Header("Message-ID"))
		}
		ids[m.Header("Message-ID")] = true
		if !strings.Contains(m.Header("To"), "Reader ") {
			t.Errorf("To = %q", m.Header("To"))
		}
		body := string(m.Data)
		if !strings.Contains(body, "Shehbaz Sharif aims to reset") || !strings.Contains(body, "Harbour library reopens") {
			t.Error("an article is missing from the digest")
		}
	}

	// A rerun sends nothing.
	r = e.run("digest")
	if r.code != 0 || !strings.Contains(r.stdout, "no new articles") || relay.Delivered() != 200 {
		t.Fatalf("rerun: %s (delivered %d)", r, relay.Delivered())
	}

	// A new article makes a new digest with only that article.
	e.write("articles/late-news.md", "---\ntitle: Late news of the night\nkey_points: [One thing happened.]\n---\nText.\n")
	r = e.run("digest")
	if r.code != 0 || relay.Delivered() != 400 {
		t.Fatalf("new article: %s (delivered %d)", r, relay.Delivered())
	}
	last := relay.Messages()[399]
	if body := string(last.Data); !strings.Contains(body, "Late news of the night") || strings.Contains(body, "Harbour library") {
		t.Error("the second digest should hold only the new article")
	}
}

func TestDigest_TemporaryRetriedPermanentRecorded(t *testing.T) {
	e, relay := digestEnv(t, 30, "")
	relay.SetReply(func(rcpt string, try int) *smtp.SMTPError {
		switch {
		case rcpt == "reader007@example.org" && try == 1:
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		case rcpt == "reader009@example.org":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case rcpt == "reader011@example.org" && try <= 2:
			return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Throttling"}
		}
		return nil
	})
	r := e.run("digest")
	if r.code != 1 || !strings.Contains(r.stderr, "no such user") {
		t.Fatal(r)
	}
	got := relay.ByRecipient()
	if got["reader007@example.org"] != 1 || got["reader011@example.org"] != 1 || got["reader009@example.org"] != 0 || len(got) != 29 {
		t.Fatalf("deliveries: 007=%d 011=%d 009=%d, %d readers", got["reader007@example.org"], got["reader011@example.org"], got["reader009@example.org"], len(got))
	}
	// A plain rerun does not retry the permanent failure.
	if r := e.run("digest"); r.code != 0 || relay.Delivered() != 29 {
		t.Fatalf("rerun: %s", r)
	}
	// --retry-failed does, once the cause is fixed.
	relay.SetReply(nil)
	r = e.run("digest", "--retry-failed")
	if r.code != 0 || !strings.Contains(r.stdout, "1 failed reader(s) made pending again") {
		t.Fatal(r)
	}
	if got := relay.ByRecipient(); got["reader009@example.org"] != 1 || relay.Delivered() != 30 {
		t.Errorf("after --retry-failed: 009=%d, delivered %d", got["reader009@example.org"], relay.Delivered())
	}
}

func TestDigest_ConnectionCutDuringData(t *testing.T) {
	e, relay := digestEnv(t, 40, "")
	relay.DropBeforeEnd(2) // not delivered: sent again
	relay.DropAfterEnd(2)  // delivered, reply lost: sent again, a copy
	r := e.run("digest")
	if r.code != 0 {
		t.Fatal(r)
	}
	if dups := wantEveryReader(t, relay, 40); dups > 2 {
		t.Errorf("%d duplicates, want at most the 2 whose reply was lost", dups)
	}
}

func TestDigest_RelayDiesMidSend(t *testing.T) {
	e, relay := digestEnv(t, 200, "")
	relay.OnDelivered(func(n int) {
		if n == 60 {
			go relay.Down()
		}
	})
	r := e.run("digest")
	if r.code != 1 || !strings.Contains(r.stderr, "relay cannot be reached") {
		t.Fatal(r)
	}
	relay.OnDelivered(nil)
	if err := relay.Up(); err != nil {
		t.Fatal(err)
	}
	// A dry run says the unfinished digest goes first, to whom it has left.
	r = e.run("digest", "--dry-run")
	left := regexp.MustCompile(`Digest 1 is unfinished: its (\d+) reader\(s\) not yet mailed would get it \(2 article\(s\)\)`).FindStringSubmatch(r.stdout)
	if r.code != 0 || left == nil {
		t.Fatalf("dry run of an unfinished digest:\n%s", r)
	}
	if n, _ := strconv.Atoi(left[1]); n < 200-60-4 || n > 200-60+4 {
		t.Errorf("the dry run says %d readers are left, want about 140", n)
	}
	if r = e.run("digest", "--dry-run", "--json"); !strings.Contains(r.stdout, `"unfinished": {`) || !strings.Contains(r.stdout, `"readers_left": `+left[1]) {
		t.Errorf("JSON dry run of an unfinished digest:\n%s", r)
	}
	r = e.run("digest")
	if r.code != 0 {
		t.Fatal(r)
	}
	if dups := wantEveryReader(t, relay, 200); dups > 4 {
		t.Errorf("%d duplicates, want at most the 4 in flight", dups)
	}
}

var tokenRe = regexp.MustCompile(`token=([A-Za-z0-9_\-.]+)`)

func TestDigest_OneClickUnsubscribe(t *testing.T) {
	e, relay := digestEnv(t, 5, "")
	if r := e.run("digest"); r.code != 0 {
		t.Fatal(r)
	}
	port := strings.TrimPrefix(regexp.MustCompile(`127\.0\.0\.1:\d+`).FindString(readFile(t, e.path("config.yaml"))), "127.0.0.1:")
	e.write("config.yaml", readFile(t, e.path("config.yaml"))+"http:\n  listen: 127.0.0.1:"+port+"\n")
	serve, _, serveErr := e.command("serve")
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		serve.Process.Signal(os.Interrupt)
		serve.Wait()
	}()
	base := "http://127.0.0.1:" + port + "/unsubscribe"
	waitFor(t, base, serveErr)

	tokens := map[string]string{}
	for _, m := range relay.Messages() {
		tokens[m.To[0]] = tokenRe.FindStringSubmatch(m.Header("List-Unsubscribe"))[1]
	}
	target := tokens["reader002@example.org"]
	post := func(token string) int {
		resp, err := http.Post(base+"?token="+url.QueryEscape(token), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// A forged token (another reader's address with this signature) and a
	// malformed one change nothing.
	addr, sig, _ := strings.Cut(target, ".")
	other, _, _ := strings.Cut(tokens["reader003@example.org"], ".")
	if code := post(other + "." + sig); code != http.StatusForbidden {
		t.Errorf("forged token: %d, want 403", code)
	}
	if code := post(addr + ".AAAA"); code != http.StatusBadRequest && code != http.StatusForbidden {
		t.Errorf("bad signature: %d", code)
	}
	if code := post("garbage"); code != http.StatusBadRequest {
		t.Errorf("malformed token: %d, want 400", code)
	}
	// GET shows a page and unsubscribes nobody.
	resp, err := http.Get(base + "?token=" + target)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `method="post"`) {
		t.Errorf("GET: %d %s", resp.StatusCode, page)
	}
	if code := post(target); code != http.StatusOK {
		t.Fatalf("one-click POST: %d", code)
	}
	// serve answers /healthz and /metrics as run does.
	root := strings.TrimSuffix(base, "/unsubscribe")
	if code, body := get(t, root+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := get(t, root+"/metrics"); code != 200 || !strings.Contains(body, "syndicate_job_runs_total") && !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics: %d", code)
	}
	// The dry run counts the readers a send would mail: not the one who left.
	e.write("articles/late-news.md", "---\ntitle: Late news\n---\nText.\n")
	if r := e.run("digest", "--dry-run"); !strings.Contains(r.stdout, "Would mail 4 reader(s)") {
		t.Errorf("dry run after an unsubscribe: %s", r)
	}
	// The next digest reaches everybody but reader002.
	if r := e.run("digest"); r.code != 0 {
		t.Fatal(r)
	}
	got := relay.ByRecipient()
	for i := 0; i < 5; i++ {
		want := 2
		if i == 2 {
			want = 1
		}
		if c := got[fmt.Sprintf("reader%03d@example.org", i)]; c != want {
			t.Errorf("reader%03d: %d messages, want %d", i, c, want)
		}
	}
}

func waitFor(t *testing.T, u string, stderr fmt.Stringer) {
	t.Helper()
	for i := 0; i < 100; i++ {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered:\n%s", u, stderr)
}

func TestDigest_DryRunSendsNothing(t *testing.T) {
	e, relay := digestEnv(t, 3, "")
	e.write("subscribers.csv", readFile(t, e.path("subscribers.csv"))+"not-an-address,X\n")
	r := e.run("digest", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "Would mail 3 reader(s)") || !strings.Contains(r.stderr, "subscribers.csv:5:") {
		t.Fatal(r)
	}
	if relay.Delivered() != 0 {
		t.Error("a dry run sent mail")
	}
	if _, err := os.Stat(e.path("state/syndicate.db")); !os.IsNotExist(err) {
		t.Error("a dry run wrote state")
	}
}

func TestDigest_DKIMAndLongLines(t *testing.T) {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	e, relay := digestEnv(t, 3, "  dkim: {domain: example.org, selector: brief, private_key_file: dkim.pem}\n")
	e.write("dkim.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	if r := e.run("digest"); r.code != 0 {
		t.Fatal(r)
	}
	for _, m := range relay.Messages() {
		sig := m.Header("DKIM-Signature")
		if !strings.Contains(sig, "d=example.org") || !strings.Contains(sig, "s=brief") {
			t.Fatalf("DKIM-Signature = %q", sig)
		}
		h := strings.ToLower(strings.Join(strings.Fields(sig), ""))
		if !strings.Contains(h, "list-unsubscribe:list-unsubscribe-post") && !(strings.Contains(h, "list-unsubscribe:") && strings.Contains(h, "list-unsubscribe-post")) {
			t.Errorf("the one-click headers are not signed: %q", sig)
		}
		if !strings.Contains(string(m.Data), "quoted-printable") {
			t.Error("a DKIM-signed digest should be quoted-printable, robust to 8bit downgrades")
		}
		// An independent verifier accepts it as the relay received it.
		dkimcheck.RequireHeaders(t, dkimcheck.Valid(dkimcheck.Verify(t, m.Data, key))[0], mail.SignedHeaders...)
	}

	// Without DKIM the relay's 8BITMIME is used, except for a message with
	// a line longer than SMTP allows, which goes quoted-printable.
	e2, relay2 := digestEnv(t, 2, "", "harbour-library-reopens.md")
	long := strings.Repeat("word ", 300)
	e2.write("articles/long.md", "---\ntitle: Long\nkey_points: [\""+long+"\"]\n---\nText.\n")
	if r := e2.run("digest"); r.code != 0 {
		t.Fatal(r)
	}
	for _, m := range relay2.Messages() {
		body := string(m.Data)
		if !strings.Contains(body, "quoted-printable") {
			t.Error("a line over 998 octets was sent as 8bit")
		}
		for _, line := range strings.Split(body, "\n") {
			if len(line) > 998 {
				t.Fatalf("a line of %d octets", len(line))
			}
		}
	}
	e3, relay3 := digestEnv(t, 1, "", "harbour-library-reopens.md")
	if r := e3.run("digest"); r.code != 0 {
		t.Fatal(r)
	}
	if body := string(relay3.Messages()[0].Data); !strings.Contains(body, "Content-Transfer-Encoding: 8bit") {
		t.Errorf("want 8bit parts for a relay with 8BITMIME:\n%s", body[:min(len(body), 1500)])
	}
}

// TestDigest_CheckLoadsTheDKIMKey: check reads the DKIM key, so a bad one
// stops it with the key's name and line, not the first message.
func TestDigest_CheckLoadsTheDKIMKey(t *testing.T) {
	e, _ := digestEnv(t, 1, "  dkim: {domain: example.org, selector: brief, private_key_file: dkim.pem}\n")
	e.write("dkim.pem", "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
	r := e.run("check")
	if r.code != 2 || !strings.Contains(r.stderr, "email.dkim.private_key_file") || !strings.Contains(r.stderr, "not an RSA or Ed25519 private key") {
		t.Errorf("check with a bad DKIM key: %s", r)
	}
	os.Remove(e.path("dkim.pem"))
	if r := e.run("check"); r.code != 2 || !strings.Contains(r.stderr, "email.dkim.private_key_file") {
		t.Errorf("check without the DKIM key file: %s", r)
	}
}

// TestDigest_MessageIDsDifferAcrossInstallations: two installations
// mailing the same list to the same reader never make the same
// Message-ID (a random part is kept in each state), while one
// installation's resend keeps it.
func TestDigest_MessageIDsDifferAcrossInstallations(t *testing.T) {
	var ids []string
	for i := 0; i < 2; i++ {
		e, relay := digestEnv(t, 1, "", "harbour-library-reopens.md")
		if r := e.run("digest"); r.code != 0 {
			t.Fatal(r)
		}
		ids = append(ids, relay.Messages()[0].Header("Message-ID"))
	}
	if ids[0] == ids[1] {
		t.Errorf("both installations made the Message-ID %s", ids[0])
	}
}
