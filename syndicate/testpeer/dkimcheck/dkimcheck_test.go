package dkimcheck_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	gomail "github.com/wneessen/go-mail"

	"github.com/syndicate-bot/syndicate/syndicate/testpeer/dkimcheck"
	"github.com/syndicate-bot/syndicate/syndicate/testpeer/mailpit"
)

const (
	domain   = "news.example.org"
	selector = "digest2026"
)

// signHeaders is the product's list (syndicate/cli/mail.go): RFC 8058 wants
// List-Unsubscribe and List-Unsubscribe-Post signed.
var signHeaders = []string{"From", "To", "Subject", "Date", "Message-ID", "List-Id",
	"List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version", "Content-Type"}

type testKey struct {
	name string
	key  crypto.Signer
}

func keys(t *testing.T) []testKey {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, ek, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return []testKey{{"RSA-2048", rk}, {"Ed25519", ek}}
}

// digest builds a digest-like message the way syndicate/mail does.
func digest(t *testing.T, enc gomail.Encoding) *gomail.Msg {
	t.Helper()
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent(), gomail.WithEncoding(enc))
	if err := m.From("Syndicate <digest@" + domain + ">"); err != nil {
		t.Fatal(err)
	}
	if err := m.AddToFormat("Reader Name", "reader@example.net"); err != nil {
		t.Fatal(err)
	}
	m.Subject("Digest: three stories, one of them with a rather long headline")
	m.SetDateWithValue(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	m.SetMessageIDWithValue("digest-7.reader@example.net@" + domain)
	m.SetGenHeaderPreformatted(gomail.Header("List-Id"), "<digest."+domain+">")
	m.SetListUnsubscribe("https://" + domain + "/unsubscribe?t=0123456789abcdef")
	m.SetListUnsubscribePost()
	m.SetBulk()
	m.SetBodyString(gomail.TypeTextPlain, "Story one\nhttps://"+domain+"/a/1\n\nStory two\n")
	m.AddAlternativeString(gomail.TypeTextHTML, "<p>Story one</p>\n<p>Story two</p>\n")
	return m
}

func write(t *testing.T, m *gomail.Msg) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// signMsgauth signs raw with go-msgauth, relaxed/relaxed, and returns the
// signed message (the DKIM-Signature field first).
func signMsgauth(t *testing.T, raw []byte, key crypto.Signer) []byte {
	t.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(raw), &dkim.SignOptions{
		Domain:                 domain,
		Selector:               selector,
		Signer:                 key,
		HeaderKeys:             signHeaders,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// dkimField returns the raw DKIM-Signature field (with its folds).
func dkimField(raw []byte) string {
	s := string(raw)
	i := strings.Index(s, "DKIM-Signature:")
	if i < 0 {
		return ""
	}
	s = s[i:]
	end := 0
	for {
		j := strings.Index(s[end:], "\r\n")
		if j < 0 {
			return s
		}
		end += j + 2
		if end >= len(s) || (s[end] != ' ' && s[end] != '\t') {
			return s[:end-2]
		}
	}
}

var hTag = regexp.MustCompile(`(?s)[;\s]h=([^;]*);`)

// foldInsideName reports whether the h= tag of field is folded inside a
// header field name (a fold not next to a ':').
func foldInsideName(field string) (string, bool) {
	m := hTag.FindStringSubmatch(field)
	if m == nil {
		return "", false
	}
	h := m[1]
	for i := strings.Index(h, "\r\n"); i >= 0; {
		after := strings.TrimLeft(h[i+2:], " \t")
		if i > 0 && h[i-1] != ':' && after != "" && after[0] != ':' {
			return h, true
		}
		j := strings.Index(h[i+2:], "\r\n")
		if j < 0 {
			break
		}
		i += 2 + j
	}
	return h, false
}

func TestTXTRecord(t *testing.T) {
	for _, k := range keys(t) {
		t.Run(k.name, func(t *testing.T) {
			rec, err := dkimcheck.TXTRecord(k.key.Public())
			if err != nil {
				t.Fatal(err)
			}
			want := "v=DKIM1; k=rsa; p="
			if k.name == "Ed25519" {
				want = "v=DKIM1; k=ed25519; p="
			}
			if !strings.HasPrefix(rec, want) {
				t.Errorf("record = %q, want prefix %q", rec, want)
			}
			signed := signMsgauth(t, write(t, digest(t, gomail.EncodingQP)), k.key)
			// The key in each form Verify accepts.
			for name, key := range map[string]any{
				"public key":  k.key.Public(),
				"private key": k.key,
				"record":      rec,
				"by name":     map[string]string{selector + "._domainkey." + domain: rec},
			} {
				vs := dkimcheck.Verify(t, signed, key)
				if len(dkimcheck.Valid(vs)) != 1 {
					t.Errorf("%s: %d valid signatures", name, len(dkimcheck.Valid(vs)))
				}
			}
			// A record under another name, another key, no signature: errors.
			if _, err := dkimcheck.Check(signed, map[string]string{"other._domainkey." + domain: rec}); err == nil {
				t.Error("key under another selector: no error")
			}
			_, other, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dkimcheck.Check(signed, other.Public()); err == nil {
				t.Error("another key: no error")
			}
			if _, err := dkimcheck.Check(write(t, digest(t, gomail.EncodingQP)), rec); err == nil {
				t.Error("unsigned message: no error")
			}
			// A changed signed header breaks it.
			tampered := bytes.Replace(signed, []byte("Subject: Digest"), []byte("Subject: DigesT"), 1)
			if _, err := dkimcheck.Check(tampered, rec); err == nil {
				t.Error("tampered Subject: no error")
			}
		})
	}
}

// TestGoMailDKIM_longHeaderList documents a bug of go-mail v0.8.1's own
// DKIM signer (mail.NewDKIMSigner + Msg.SetDKIM): with relaxed header
// canonicalization (its default) it signs the h= value unfolded but
// writes it folded at column 76, wherever that falls. With the product's
// header list the fold lands inside a header name
// ("h=From:…:List-Unsubscribe\r\n -Post:MIME-Version:Content-Type"), the
// relaxed form of the field gets a space there ("List-Unsubscribe -Post")
// that was not signed, and every verifier fails the signature, for RSA and
// Ed25519 alike. go-mail's default, shorter list fits on one line and
// verifies. If this test starts failing because the signatures verify,
// go-mail has been fixed.
func TestGoMailDKIM_longHeaderList(t *testing.T) {
	for _, k := range keys(t) {
		t.Run(k.name, func(t *testing.T) {
			m := digest(t, gomail.EncodingQP)
			s := gomail.NewDKIMSigner(domain, selector, k.key)
			s.SignHeaders(signHeaders...)
			m.SetDKIM(s)
			raw := write(t, m)
			field := dkimField(raw)
			h, inside := foldInsideName(field)
			if !inside {
				t.Errorf("h= is not folded inside a name: %q", h)
			}
			if !strings.Contains(field, "List-Unsubscribe\r\n -Post") {
				t.Logf("the fold moved: %q", h)
			}
			vs, err := dkimcheck.Check(raw, k.key)
			if err == nil {
				t.Fatalf("go-mail's DKIM signature verifies now: go-mail is fixed?\n%s", field)
			}
			t.Logf("go-msgauth: %v", err)
			// go-msgauth still reads the header list right (it drops the
			// whitespace); the hash is what breaks.
			if len(vs) == 1 {
				dkimcheck.RequireHeaders(t, vs[0], signHeaders...)
			}
			if !strings.Contains(err.Error(), "signature did not verify") {
				t.Errorf("err = %v", err)
			}
		})
		t.Run(k.name+" default headers", func(t *testing.T) {
			m := digest(t, gomail.EncodingQP)
			m.SetDKIM(gomail.NewDKIMSigner(domain, selector, k.key))
			raw := write(t, m)
			vs := dkimcheck.Verify(t, raw, k.key)
			// ... but then List-Unsubscribe(-Post) and List-Id are unsigned.
			if got := strings.Join(vs[0].HeaderKeys, ":"); got != "From:To:Subject:Date:Message-ID:Content-Type:MIME-Version" {
				t.Errorf("h=%s", got)
			}
		})
		t.Run(k.name+" simple", func(t *testing.T) {
			// With simple canonicalization go-mail writes the field on
			// one unfolded line, so it verifies (the line is long, but
			// well under SMTP's 998).
			m := digest(t, gomail.EncodingQP)
			s := gomail.NewDKIMSigner(domain, selector, k.key)
			s.SignHeaders(signHeaders...)
			s.HeaderCanonicalization(gomail.CanonicalizationSimple)
			s.BodyCanonicalization(gomail.CanonicalizationSimple)
			m.SetDKIM(s)
			raw := write(t, m)
			_, err := dkimcheck.Check(raw, k.key)
			t.Logf("go-mail simple/simple, long list: %v (field is %d bytes on one line)", err, len(dkimField(raw)))
			if err != nil {
				t.Errorf("simple/simple: %v", err)
			}
		})
	}
}

// TestSign_msgauth is the way that works: build with go-mail, WriteTo a
// buffer without go-mail's DKIM, sign the bytes with go-msgauth, put its
// DKIM-Signature field in front.
func TestSign_msgauth(t *testing.T) {
	for _, k := range keys(t) {
		for _, enc := range []gomail.Encoding{gomail.EncodingQP, gomail.NoEncoding} {
			t.Run(k.name+" "+string(enc), func(t *testing.T) {
				raw := write(t, digest(t, enc))
				signed := signMsgauth(t, raw, k.key)
				if !bytes.HasSuffix(signed, raw) || !bytes.HasPrefix(signed, []byte("DKIM-Signature: ")) {
					t.Fatalf("Sign did not prepend one field:\n%.400s", signed)
				}
				if _, inside := foldInsideName(dkimField(signed)); inside {
					t.Errorf("go-msgauth folds inside a header name:\n%s", dkimField(signed))
				}
				vs := dkimcheck.Verify(t, signed, k.key)
				dkimcheck.RequireHeaders(t, vs[0], signHeaders...)
				if got, want := vs[0].Domain, domain; got != want {
					t.Errorf("d=%s, want %s", got, want)
				}

				// The wire form (DATA's dot-writer turns a bare LF into
				// CRLF) verifies too.
				wire := bytes.ReplaceAll(bytes.ReplaceAll(signed, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
				dkimcheck.Verify(t, wire, k.key)
			})
		}
	}
}

var bareLF = regexp.MustCompile(`(^|[^\r])\n`)

// TestGoMail_lineEnds records what go-mail's WriteTo writes: CRLF in the
// header always; in the body CRLF with quoted-printable and base64, but
// the caller's own line ends (bare LF, bare CR) with 8bit (NoEncoding).
func TestGoMail_lineEnds(t *testing.T) {
	for enc, wantBare := range map[gomail.Encoding]bool{
		gomail.EncodingQP:  false,
		gomail.EncodingB64: false,
		gomail.NoEncoding:  true,
	} {
		raw := write(t, digest(t, enc))
		head, body, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
		if bareLF.Match(head) {
			t.Errorf("%s: bare LF in the header", enc)
		}
		if got := bareLF.Match(body); got != wantBare {
			t.Errorf("%s: bare LF in the body = %v, want %v", enc, got, wantBare)
		}
	}
}

// TestSign_throughMailpit sends a go-msgauth-signed message over SMTP
// (go-mail's smtp client; its DATA writer is a textproto dot-writer, which
// turns a bare LF into CRLF) to a real
// Mailpit and verifies what it stored.
func TestSign_throughMailpit(t *testing.T) {
	s := mailpit.Start(t)
	c, err := gomail.NewClient(s.SMTPHost, gomail.WithPort(s.SMTPPort), gomail.WithTLSPolicy(gomail.NoTLS), gomail.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseWithSMTPClient(sc)
	ks := keys(t)
	for _, k := range ks {
		signed := signMsgauth(t, write(t, digest(t, gomail.NoEncoding)), k.key)
		if err := sc.Mail("<digest@" + domain + ">"); err != nil {
			t.Fatal(err)
		}
		if err := sc.Rcpt("<reader@example.net>"); err != nil {
			t.Fatal(err)
		}
		w, err := sc.Data()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(signed); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, m := range s.WaitForMessages(t, len(ks), 10*time.Second) {
		raw := s.Raw(t, m.ID)
		k := ks[0] // RSA
		if bytes.Contains(raw, []byte("a=ed25519-sha256;")) {
			k = ks[1]
		}
		seen[k.name] = true
		vs := dkimcheck.Verify(t, raw, k.key)
		dkimcheck.RequireHeaders(t, dkimcheck.Valid(vs)[0], signHeaders...)
	}
	if len(seen) != len(ks) {
		t.Errorf("verified %v, want both keys", seen)
	}
}
