package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate/internal/golden"
	"github.com/syndicate-bot/syndicate/syndicate/mail/smtptest"
	"github.com/syndicate-bot/syndicate/syndicate/unsubscribe"
)

// testNow is the fixed clock of these tests.
var testNow = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// workspace copies the shipped config, articles and subscribers into a
// temporary folder, with fixed modification times, and returns the
// config's path. edit, when given, rewrites the config text.
func workspace(t *testing.T, edit func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	copyFile := func(src, dst string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		mt := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
		if err := os.Chtimes(dst, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := os.ReadFile("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(cfg)
	if edit != nil {
		text = edit(text)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	copyFile("../../subscribers.csv", filepath.Join(dir, "subscribers.csv"))
	if err := os.Mkdir(filepath.Join(dir, "articles"), 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("../../articles")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		copyFile(filepath.Join("../../articles", e.Name()), filepath.Join(dir, "articles", e.Name()))
	}
	return filepath.Join(dir, "config.yaml")
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, getenv map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), args, Env{
		Stdout: &out, Stderr: &errOut, Now: func() time.Time { return testNow },
		Getenv: func(k string) string { return getenv[k] },
	})
	if err != nil {
		errOut.WriteString("Error: " + err.Error() + "\n")
	}
	return result{out.String(), errOut.String(), ExitCode(err)}
}

func TestPostDryRun_JSONContract(t *testing.T) {
	cfg := workspace(t, nil)
	r := run(t, nil, "--config", cfg, "post", "--dry-run", "--json", "--all")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var doc struct {
		MaxCharacters int `json:"max_characters"`
		Networks      []struct {
			Network       string
			MaxCharacters int `json:"max_characters"`
			Counting      string
			Threads       int
		}
		Threads []struct {
			Network             string
			MaxCharacters       int `json:"max_characters"`
			Article, Title, URL string
			Posts               []struct {
				Text       string
				Length     int
				Visibility string
				Media      []struct{ File, Description string }
				Card       *struct{ URL, Title, Description string }
			}
		}
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	if dec.More() {
		t.Error("more than one JSON document on stdout")
	}
	if got, want := doc.MaxCharacters, 500; got != want {
		t.Errorf("max_characters = %d, want %d (the first network's)", got, want)
	}
	if got, want := fmt.Sprint(doc.Networks), "[{mastodon 500 mastodon 4} {bluesky 300 bluesky 4}]"; got != want {
		t.Errorf("networks = %s, want %s", got, want)
	}
	ids := map[string][]string{}
	for _, th := range doc.Threads {
		ids[th.Network] = append(ids[th.Network], th.Article)
		limit := map[string]int{"mastodon": 500, "bluesky": 300}[th.Network]
		if th.MaxCharacters != limit {
			t.Errorf("%s on %s: max_characters %d, want %d", th.Article, th.Network, th.MaxCharacters, limit)
		}
		for i, p := range th.Posts {
			if p.Length > limit || p.Length <= 0 {
				t.Errorf("%s on %s: length %d", th.Article, th.Network, p.Length)
			}
			// Bluesky's head post carries its link card; Mastodon's server
			// makes its own.
			if (p.Card != nil) != (th.Network == "bluesky" && i == 0) {
				t.Errorf("%s on %s post %d: card %+v", th.Article, th.Network, i+1, p.Card)
			}
			if p.Card != nil && (p.Card.URL != th.URL || p.Card.Title != th.Title || p.Card.Description == "") {
				t.Errorf("%s card = %+v", th.Article, p.Card)
			}
		}
	}
	// Oldest first on each network; the draft and the embargoed article
	// are not there.
	for _, network := range []string{"mastodon", "bluesky"} {
		if got, want := strings.Join(ids[network], ","), "north-sea-wind-auction,harbour-library-reopens,city-budget-vote,shehbaz-sharif-putin-letters"; got != want {
			t.Errorf("%s threads = %s\nwant %s", network, got, want)
		}
	}
	seed := doc.Threads[3]
	// The head carries the first key point (the title) and the link; the
	// replies are the two other points, so no sentence is seen twice.
	if got, want := len(seed.Posts), 3; got != want {
		t.Fatalf("seed thread has %d posts, want %d", got, want)
	}
	if !strings.HasPrefix(seed.Posts[0].Text, "Shehbaz Sharif aims to reset") || !strings.Contains(seed.Posts[0].Text, seed.URL) {
		t.Errorf("seed head = %q", seed.Posts[0].Text)
	}
	if !strings.HasPrefix(seed.Posts[1].Text, "The Pakistani PM also plans") {
		t.Errorf("seed's first reply = %q, want the second key point", seed.Posts[1].Text)
	}
	for _, wind := range []int{0, 4} {
		w := doc.Threads[wind]
		if len(w.Posts[0].Media) != 1 || !strings.HasSuffix(w.Posts[0].Media[0].File, "offshore-wind.png") || w.Posts[0].Media[0].Description == "" {
			t.Errorf("wind head media on %s = %+v", w.Network, w.Posts[0].Media)
		}
	}
	if w := doc.Threads[0]; w.Posts[0].Visibility != "public" || w.Posts[1].Visibility != "unlisted" {
		t.Errorf("Mastodon visibility %s/%s", w.Posts[0].Visibility, w.Posts[1].Visibility)
	}
	if w := doc.Threads[4]; w.Posts[0].Visibility != "public" || w.Posts[1].Visibility != "public" {
		t.Errorf("Bluesky visibility %s/%s: every Bluesky post is public", w.Posts[0].Visibility, w.Posts[1].Visibility)
	}

	// --network shows one network alone.
	r = run(t, nil, "--config", cfg, "post", "--dry-run", "--json", "--all", "--network", "bluesky")
	if r.code != 0 || strings.Count(r.stdout, `"network": "bluesky"`) != 5 || strings.Contains(r.stdout, `"network": "mastodon"`) {
		t.Errorf("--network bluesky: exit %d\n%s", r.code, r.stdout)
	}
	if r := run(t, nil, "--config", cfg, "post", "--dry-run", "--network", "myspace"); r.code != 2 || !strings.Contains(r.stderr, "threads go to mastodon and bluesky") {
		t.Errorf("--network myspace: exit %d\n%s", r.code, r.stderr)
	}
}

// TestPostDryRun_OneNetworkAlone: a config with only a bluesky section
// posts to Bluesky alone; with neither section, dry runs compose for
// Mastodon as they always did.
func TestPostDryRun_OneNetworkAlone(t *testing.T) {
	for _, tt := range []struct {
		name, cut string
		want      string
	}{
		{"bluesky alone", "mastodon:", "bluesky"},
		{"mastodon alone", "bluesky:", "mastodon"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := workspace(t, func(s string) string { return dropSection(s, tt.cut) })
			r := run(t, nil, "--config", cfg, "post", "--dry-run", "--json", "--all")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var doc struct {
				Networks []struct{ Network string }
				Threads  []struct{ Network string }
			}
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Networks) != 1 || doc.Networks[0].Network != tt.want || len(doc.Threads) != 4 {
				t.Errorf("networks %+v, %d threads; want %s alone", doc.Networks, len(doc.Threads), tt.want)
			}
			for _, th := range doc.Threads {
				if th.Network != tt.want {
					t.Errorf("a thread on %s", th.Network)
				}
			}
			for _, cmd := range [][]string{{"check"}, {"status"}, {"preview", "--out", filepath.Join(t.TempDir(), "p")}, {"digest", "--dry-run"}} {
				if r := run(t, nil, append([]string{"--config", cfg}, cmd...)...); r.code != 0 {
					t.Errorf("%v: exit %d\n%s", cmd, r.code, r.stderr)
				}
			}
		})
	}
}

// dropSection removes a top-level section of the config text.
func dropSection(config, header string) string {
	var out []string
	skip := false
	for _, line := range strings.Split(config, "\n") {
		if strings.HasPrefix(line, header) {
			skip = true
			continue
		}
		if skip && (strings.HasPrefix(line, " ") || line == "") {
			continue
		}
		skip = false
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

func TestPostDryRun_CapAndText(t *testing.T) {
	cfg := workspace(t, nil)
	r := run(t, nil, "--config", cfg, "post", "--dry-run")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	out := strings.ReplaceAll(r.stdout, filepath.Dir(cfg), "WORKSPACE")
	golden.Check(t, "post-dry-run.txt", []byte(out))
	if !strings.Contains(out, "3 more pending article(s) wait for later runs") {
		t.Error("the per-run cap is not reported")
	}
}

func TestDigestDryRun(t *testing.T) {
	cfg := workspace(t, nil)
	outDir := filepath.Join(t.TempDir(), "out")
	r := run(t, nil, "--config", cfg, "digest", "--dry-run", "--out", outDir)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	golden.Check(t, "digest-dry-run.txt", []byte(r.stdout))
	eml, err := os.Open(filepath.Join(outDir, "digest.eml"))
	if err != nil {
		t.Fatal(err)
	}
	defer eml.Close()
	msg, err := mail.ReadMessage(eml)
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]string{
		"To":                    `"Ada" <ada@example.org>`,
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"List-Unsubscribe":      "<https://news.example.org/unsubscribe?token=" + unsubscribe.DryRunToken("ada@example.org") + ">",
		"List-Id":               "<digest.example.org>",
	} {
		if got := msg.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if ct := msg.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative") {
		t.Errorf("Content-Type = %q", ct)
	}
	body, _ := io.ReadAll(msg.Body)
	if iText, iHTML := bytes.Index(body, []byte("text/plain")), bytes.Index(body, []byte("text/html")); iText < 0 || iHTML < iText {
		t.Error("want the plain-text part first and the HTML part last")
	}
	for _, name := range []string{"digest.html", "digest.txt"} {
		if fi, err := os.Stat(filepath.Join(outDir, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s not written: %v", name, err)
		}
	}

	r = run(t, nil, "--config", cfg, "digest", "--dry-run", "--json")
	var doc struct {
		Subject  string
		Articles []struct{ ID string }
		Readers  int
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if doc.Readers != 3 || len(doc.Articles) != 4 || doc.Subject == "" {
		t.Errorf("digest JSON = %+v", doc)
	}
}

func TestPreview_Golden(t *testing.T) {
	cfg := workspace(t, nil)
	out := filepath.Join(t.TempDir(), "pv")
	r := run(t, nil, "--config", cfg, "preview", "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	page, err := os.ReadFile(filepath.Join(out, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	page = bytes.ReplaceAll(page, []byte(filepath.Dir(cfg)), []byte("WORKSPACE"))
	golden.Check(t, "preview.html", page)
	for _, want := range []string{"thread-shehbaz-sharif-putin-letters", "srcdoc=", "data:image/png;base64,", "121 / 500"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("page lacks %q", want)
		}
	}
	if bytes.Contains(page, []byte("<script")) || bytes.Contains(page, []byte("<link")) {
		t.Error("the page has a script or loads a stylesheet: it should be self-contained")
	}
}

func TestCheck_ExitCodes(t *testing.T) {
	cfg := workspace(t, nil)
	if r := run(t, nil, "--config", cfg, "check"); r.code != 0 {
		t.Fatalf("shipped files: exit %d\n%s", r.code, r.stderr)
	}
	broken := filepath.Join(filepath.Dir(cfg), "articles", "broken.md")
	if err := os.WriteFile(broken, []byte("---\ntitle: x\ndate: someday\n---\ntext\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, "--config", cfg, "check")
	if r.code != 1 || !strings.Contains(r.stderr, broken+":3: front matter: date:") {
		t.Errorf("broken article: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	// The other articles are still processed.
	r = run(t, nil, "--config", cfg, "post", "--dry-run", "--json", "--all")
	if r.code != 1 || strings.Count(r.stdout, `"article":`) != 8 {
		t.Errorf("with a broken article: exit %d, stdout:\n%s", r.code, r.stdout)
	}

	bad := workspace(t, func(s string) string { return strings.Replace(s, "visibility: public", "visibility: everyone", 1) })
	r = run(t, nil, "--config", bad, "check")
	// The line of the value in the shipped config, wherever it moves.
	shipped, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	line := 1 + strings.Count(string(shipped[:strings.Index(string(shipped), "visibility: everyone")]), "\n")
	if r.code != 2 || !strings.Contains(r.stderr, fmt.Sprintf("%s:%d: mastodon.visibility:", bad, line)) {
		t.Errorf("bad config: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if r := run(t, nil, "--config", cfg, "frobnicate"); r.code != 2 {
		t.Errorf("unknown command: exit %d", r.code)
	}
	if r := run(t, nil, "--config", cfg, "post", "--dry-run", "extra"); r.code != 2 {
		t.Errorf("extra argument: exit %d", r.code)
	}
	if r := run(t, nil, "--config", filepath.Join(t.TempDir(), "missing.yaml"), "check"); r.code != 2 {
		t.Errorf("missing config: exit %d", r.code)
	}
}

// A dry run opens no connection, writes no state and prints no secret.
func TestDryRun_TouchesNothing(t *testing.T) {
	var hits atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer api.Close()
	smtp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer smtp.Close()
	go func() {
		for {
			c, err := smtp.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(smtp.Addr().String())
	cfg := workspace(t, func(s string) string {
		s = strings.Replace(s, "server: https://mastodon.example", "server: "+api.URL, 1)
		s = strings.Replace(s, "host: localhost", "host: 127.0.0.1", 1)
		return strings.Replace(s, "port: 587", "port: "+port, 1)
	})
	const secret = "SECRET-token-value-42"
	vars := map[string]string{"MASTODON_ACCESS_TOKEN": secret, "SMTP_PASSWORD": secret}
	var all strings.Builder
	for _, args := range [][]string{
		{"post", "--dry-run"}, {"post", "--dry-run", "--json", "--all"},
		{"digest", "--dry-run", "--out", filepath.Join(t.TempDir(), "o")}, {"digest", "--dry-run", "--json"},
		{"preview", "--out", filepath.Join(t.TempDir(), "p")}, {"check"},
	} {
		r := run(t, vars, append([]string{"--config", cfg}, args...)...)
		if r.code != 0 {
			t.Errorf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
		all.WriteString(r.stdout + r.stderr)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("dry runs made %d connections", n)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "syndicate.db")); !os.IsNotExist(err) {
		t.Errorf("a dry run created the state: %v", err)
	}
	if strings.Contains(all.String(), secret) {
		t.Error("a secret was printed")
	}
}

// TestDigestDryRun_EmlIsWhatTheReaderGets: with the same clock, the dry
// run's digest.eml is byte for byte the message the first reader is sent
// (encoding, header order, boundary, Message-ID), but for the token in
// the unsubscribe link. (A relay on this machine with 8BITMIME, DKIM off
// and on.)
func TestDigestDryRun_EmlIsWhatTheReaderGets(t *testing.T) {
	for _, signed := range []bool{false, true} {
		t.Run(fmt.Sprintf("DKIM %v", signed), func(t *testing.T) {
			relay, err := smtptest.New()
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			cfg := workspace(t, func(s string) string {
				s = strings.Replace(s, "    host: localhost\n    port: 587\n", fmt.Sprintf("    host: 127.0.0.1\n    port: %d\n", relay.Port), 1)
				s = strings.Replace(s, "    tls: starttls ", "    tls: none     ", 1)
				if signed {
					s = strings.Replace(s, "  # dkim: {domain: example.org, selector: brief, private_key_file: dkim.pem}", "  dkim: {domain: example.org, selector: brief, private_key_file: dkim.pem}", 1)
				}
				return s
			})
			dir := filepath.Dir(cfg)
			if signed {
				_, key, _ := ed25519.GenerateKey(nil)
				der, _ := x509.MarshalPKCS8PrivateKey(key)
				os.WriteFile(filepath.Join(dir, "dkim.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
			}
			// The first send fixes the state's secrets; the second digest
			// is the one compared.
			if r := run(t, nil, "--config", cfg, "digest"); r.code != 0 {
				t.Fatal(r)
			}
			os.WriteFile(filepath.Join(dir, "articles", "late.md"), []byte("---\ntitle: A late story with Zoë's café\nkey_points: [One thing happened at the harbour.]\n---\nText.\n"), 0o644)
			out := filepath.Join(t.TempDir(), "out")
			if r := run(t, nil, "--config", cfg, "digest", "--dry-run", "--out", out); r.code != 0 {
				t.Fatal(r)
			}
			eml, err := os.ReadFile(filepath.Join(out, "digest.eml"))
			if err != nil {
				t.Fatal(err)
			}
			n := relay.Delivered()
			if r := run(t, nil, "--config", cfg, "digest"); r.code != 0 {
				t.Fatal(r)
			}
			sent := ""
			for _, m := range relay.Messages()[n:] {
				if m.To[0] == "ada@example.org" { // the first reader of the list
					sent = string(m.Data)
				}
			}
			tokens := regexp.MustCompile(`token=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)
			norm := func(s string) string {
				// Quoted-printable breaks long lines (the token's too) with
				// "=" CRLF at the same places in both.
				s = strings.ReplaceAll(s, "=\r\n", "")
				s = tokens.ReplaceAllString(s, "token=TOKEN")
				if signed { // the signature covers the token
					s = regexp.MustCompile(`(?s)DKIM-Signature:.*?\r\n(\S)`).ReplaceAllString(s, "DKIM-Signature: SIGNATURE\r\n$1")
				}
				return s
			}
			if got, want := norm(string(eml)), norm(sent); got != want {
				t.Errorf("digest.eml differs from what the first reader was sent:\n%s", diffLines(got, want))
			}
			if strings.Contains(string(eml), tokens.FindString(sent)) {
				t.Error("the dry run carries the reader's real token")
			}
		})
	}
}

// diffLines shows the first lines where two texts differ.
func diffLines(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for i := 0; i < max(len(g), len(w)) && b.Len() < 2000; i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			fmt.Fprintf(&b, "line %d:\n  eml:  %q\n  sent: %q\n", i+1, gl, wl)
		}
	}
	return b.String()
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := run(t, nil, args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "syndicate ") || !strings.Contains(r.stdout, "go1.") {
			t.Errorf("%v: %+v", args, r)
		}
	}
}
