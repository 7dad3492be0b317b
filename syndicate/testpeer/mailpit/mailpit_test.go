package mailpit_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/syndicate-bot/syndicate/syndicate/testpeer/mailpit"
)

const (
	from    = "Syndicate <digest@news.example.org>"
	to      = "reader@example.net"
	unsub   = "https://news.example.org/unsubscribe?t=abc"
	subject = "Digest: three stories"
	html    = `<!doctype html><html><head><style>@media (max-width:600px){p{margin:0}}</style></head>
<body><h1>Digest</h1><p><a href="https://news.example.org/a/1">Story one</a></p></body></html>`
)

// message builds a digest-like message: plain text first, HTML last,
// RFC 8058 one-click unsubscribe.
func message(t *testing.T, text string) *gomail.Msg {
	t.Helper()
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := m.From(from); err != nil {
		t.Fatal(err)
	}
	if err := m.To(to); err != nil {
		t.Fatal(err)
	}
	m.Subject(subject)
	m.SetDate()
	m.SetMessageIDWithValue("digest-1." + to + "@news.example.org")
	m.SetGenHeaderPreformatted(gomail.Header("List-Id"), "<digest.news.example.org>")
	m.SetListUnsubscribe(unsub)
	m.SetListUnsubscribePost()
	m.SetBodyString(gomail.TypeTextPlain, text)
	m.AddAlternativeString(gomail.TypeTextHTML, html)
	return m
}

func send(t *testing.T, s *mailpit.Server, m *gomail.Msg, opts ...gomail.Option) error {
	t.Helper()
	opts = append([]gomail.Option{gomail.WithPort(s.SMTPPort), gomail.WithTimeout(5 * time.Second)}, opts...)
	c, err := gomail.NewClient(s.SMTPHost, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.DialAndSendWithContext(ctx, m)
}

func TestServer_PlainSMTPAndAPI(t *testing.T) {
	s := mailpit.Start(t)
	if err := send(t, s, message(t, "Story one: https://news.example.org/a/1\n"), gomail.WithTLSPolicy(gomail.NoTLS)); err != nil {
		t.Fatalf("send: %v\n%s", err, s.Log())
	}

	// go-mail's default policy, TLSMandatory, against a server without
	// STARTTLS.
	err := send(t, s, message(t, "x"))
	t.Logf("TLSMandatory to a server without STARTTLS: %v", err)
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("TLSMandatory without STARTTLS: err = %v", err)
	}

	msgs := s.WaitForMessages(t, 1, 10*time.Second)
	if got, want := len(msgs), 1; got != want {
		t.Fatalf("messages = %d, want %d", got, want)
	}
	sum := msgs[0]
	if got, want := sum.Subject, subject; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	if sum.From == nil || sum.From.Address != "digest@news.example.org" || sum.From.Name != "Syndicate" {
		t.Errorf("From = %+v", sum.From)
	}
	if len(sum.To) != 1 || sum.To[0].Address != to {
		t.Errorf("To = %+v", sum.To)
	}
	if got, want := sum.MessageID, "digest-1."+to+"@news.example.org"; got != want {
		t.Errorf("MessageID = %q, want %q", got, want)
	}

	m := s.Message(t, sum.ID)
	if got, want := m.ListUnsubscribe.Header, "<"+unsub+">"; got != want {
		t.Errorf("List-Unsubscribe = %q, want %q", got, want)
	}
	if got, want := m.ListUnsubscribe.HeaderPost, "List-Unsubscribe=One-Click"; got != want {
		t.Errorf("List-Unsubscribe-Post = %q, want %q", got, want)
	}
	if m.ListUnsubscribe.Errors != "" {
		t.Errorf("List-Unsubscribe errors: %s", m.ListUnsubscribe.Errors)
	}
	if !strings.Contains(m.Text, "Story one") || !strings.Contains(m.HTML, "<h1>Digest</h1>") {
		t.Errorf("Text = %q, HTML = %q", m.Text, m.HTML)
	}

	raw := s.Raw(t, sum.ID)
	if !bytes.Contains(raw, []byte("\r\nSubject: "+subject+"\r\n")) {
		t.Errorf("raw message has no CRLF Subject line:\n%s", raw)
	}
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("raw message has a bare LF")
	}
	// Mailpit adds Return-Path and Received in front of what was sent.
	if !bytes.HasPrefix(raw, []byte("Return-Path: <digest@news.example.org>\r\nReceived: from ")) {
		t.Errorf("raw message does not start with Mailpit's Return-Path and Received: %.120q", raw)
	}

	h := s.Headers(t, sum.ID)
	if got := h["List-Id"]; len(got) != 1 || got[0] != "<digest.news.example.org>" {
		t.Errorf("List-Id = %q", got)
	}

	hc := s.HTMLCheck(t, sum.ID)
	if hc.Total.Tests == 0 || hc.Total.Supported <= 0 || hc.Total.Supported > 100 {
		t.Errorf("HTML check total = %+v", hc.Total)
	}
	slugs := map[string]bool{}
	for _, w := range hc.Warnings {
		slugs[w.Slug] = true
	}
	for _, want := range []string{"html-body", "css-at-media", "html-style"} {
		if !slugs[want] {
			t.Errorf("HTML check: no warning %q in %v", want, slugs)
		}
	}
	t.Logf("HTML check: %+v, %d warnings", hc.Total, len(hc.Warnings))

	if got := s.Message(t, "latest").ID; got != sum.ID {
		t.Errorf(`Message("latest").ID = %q, want %q`, got, sum.ID)
	}
	s.DeleteAll(t)
	if got := s.Count(t); got != 0 {
		t.Errorf("after DeleteAll: %d messages", got)
	}
}

func TestServer_Messages_pages(t *testing.T) {
	s := mailpit.Start(t)
	c, err := gomail.NewClient(s.SMTPHost, gomail.WithPort(s.SMTPPort), gomail.WithTLSPolicy(gomail.NoTLS))
	if err != nil {
		t.Fatal(err)
	}
	const n = 260 // more than one page of 250
	msgs := make([]*gomail.Msg, n)
	for i := range msgs {
		msgs[i] = message(t, "hello")
		msgs[i].SetMessageID()
	}
	if err := c.DialAndSend(msgs...); err != nil {
		t.Fatal(err)
	}
	got := s.WaitForMessages(t, n, 30*time.Second)
	if len(got) != n {
		t.Fatalf("Messages = %d, want %d", len(got), n)
	}
	seen := map[string]bool{}
	for i, m := range got {
		if seen[m.ID] {
			t.Fatalf("message %s listed twice", m.ID)
		}
		seen[m.ID] = true
		if i > 0 && m.Created.Before(got[i-1].Created) {
			t.Fatalf("not oldest first at %d", i)
		}
	}
}

func TestServer_LinkCheck(t *testing.T) {
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok" {
			http.NotFound(w, r)
		}
	}))
	defer local.Close()
	text := "ok " + local.URL + "/ok\nmissing " + local.URL + "/missing\noffline https://news.example.invalid/a/1\n"

	t.Run("internal allowed", func(t *testing.T) {
		s := mailpit.Start(t, mailpit.WithInternalHTTP())
		if err := send(t, s, message(t, text), gomail.WithTLSPolicy(gomail.NoTLS)); err != nil {
			t.Fatal(err)
		}
		id := s.WaitForMessages(t, 1, 10*time.Second)[0].ID
		start := time.Now()
		lc := s.LinkCheck(t, id, false)
		t.Logf("link check took %v: %+v", time.Since(start).Round(time.Millisecond), lc)
		status := map[string]int{}
		for _, l := range lc.Links {
			status[l.URL] = l.StatusCode
		}
		for url, want := range map[string]int{
			local.URL + "/ok":                  200,
			local.URL + "/missing":             404,
			"https://news.example.invalid/a/1": 0,  // no DNS offline (and .invalid never resolves)
			"https://news.example.org/a/1":     -1, // from the HTML part; status depends on the network
		} {
			got, ok := status[url]
			if !ok {
				t.Errorf("link %s not reported", url)
			} else if want >= 0 && got != want {
				t.Errorf("link %s: status %d, want %d", url, got, want)
			}
		}
	})
	t.Run("internal blocked", func(t *testing.T) {
		s := mailpit.Start(t)
		if err := send(t, s, message(t, text), gomail.WithTLSPolicy(gomail.NoTLS)); err != nil {
			t.Fatal(err)
		}
		id := s.WaitForMessages(t, 1, 10*time.Second)[0].ID
		for _, l := range s.LinkCheck(t, id, true).Links {
			if strings.HasPrefix(l.URL, local.URL) && (l.StatusCode != 451 || l.Status != "Blocked private/reserved address") {
				t.Errorf("link %s: %d %q, want 451 Blocked private/reserved address", l.URL, l.StatusCode, l.Status)
			}
		}
	})
}

func TestServer_TLS(t *testing.T) {
	text := "hello over TLS\n"
	t.Run("STARTTLS required", func(t *testing.T) {
		s := mailpit.Start(t, mailpit.WithTLS(mailpit.STARTTLSRequired))
		if _, err := os.Stat(s.CAFile); err != nil {
			t.Fatal(err)
		}
		if err := send(t, s, message(t, text), gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithTLSConfig(s.TLSConfig())); err != nil {
			t.Fatalf("STARTTLS send: %v", err)
		}

		// (a) a certificate the client does not trust.
		err := send(t, s, message(t, text), gomail.WithTLSPolicy(gomail.TLSMandatory))
		t.Logf("untrusted certificate: %v", err)
		if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Errorf("untrusted certificate: err = %v", err)
		}
		var unknownCA x509.UnknownAuthorityError
		var verify *tls.CertificateVerificationError
		if !errors.As(err, &unknownCA) || !errors.As(err, &verify) {
			t.Errorf("untrusted certificate: %T is not a *tls.CertificateVerificationError wrapping x509.UnknownAuthorityError", err)
		}

		// Implicit TLS (SMTPS) against the STARTTLS port: the TLS
		// handshake reads the plain "220" greeting and fails at once.
		start := time.Now()
		err = send(t, s, message(t, text), gomail.WithSSL(), gomail.WithTLSConfig(s.TLSConfig()))
		t.Logf("implicit TLS to a STARTTLS port: after %v: %v", time.Since(start).Round(time.Millisecond), err)
		if err == nil || !strings.Contains(err.Error(), "tls: first record does not look like a TLS handshake") {
			t.Errorf("implicit TLS to STARTTLS port: err = %v", err)
		}

		// (c) no TLS against a server that requires STARTTLS.
		err = send(t, s, message(t, text), gomail.WithTLSPolicy(gomail.NoTLS))
		t.Logf("plain SMTP to a STARTTLS-required server: %v", err)
		var se *gomail.SendError
		if !errors.As(err, &se) || se.ErrorCode() != 530 || se.IsTemp() {
			t.Errorf("plain SMTP to STARTTLS-required: err = %#v, want a permanent 530 SendError", err)
		} else if !strings.Contains(err.Error(), `sending SMTP MAIL FROM command: 530 "5.7.0 Must issue a STARTTLS command first"`) {
			t.Errorf("error text = %q", err)
		}
		s.WaitForMessages(t, 1, 10*time.Second)
		if got := s.Count(t); got != 1 {
			t.Errorf("%d messages, want 1", got)
		}
	})
	t.Run("implicit TLS", func(t *testing.T) {
		s := mailpit.Start(t, mailpit.WithTLS(mailpit.ImplicitTLS))
		if err := send(t, s, message(t, text), gomail.WithSSL(), gomail.WithTLSConfig(s.TLSConfig())); err != nil {
			t.Fatalf("implicit TLS send: %v", err)
		}

		// (b) STARTTLS against the implicit-TLS port: both sides wait for
		// the other to speak first, until the client's timeout.
		for _, timeout := range []time.Duration{time.Second, 2 * time.Second} {
			start := time.Now()
			err := send(t, s, message(t, text), gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithTLSConfig(s.TLSConfig()), gomail.WithTimeout(timeout))
			took := time.Since(start)
			t.Logf("STARTTLS to implicit-TLS port (timeout %v): after %v: %v", timeout, took.Round(time.Millisecond), err)
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || !strings.Contains(err.Error(), "i/o timeout") {
				t.Errorf("STARTTLS to implicit TLS: err = %v, want a net.Error timeout", err)
			}
			if took > timeout+3*time.Second {
				t.Errorf("took %v with timeout %v", took, timeout)
			}
		}

		// (a) implicit TLS, untrusted.
		err := send(t, s, message(t, text), gomail.WithSSL())
		t.Logf("implicit TLS, untrusted certificate: %v", err)
		if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Errorf("untrusted certificate: err = %v", err)
		}
		// plain SMTP to the implicit-TLS port.
		start := time.Now()
		err = send(t, s, message(t, text), gomail.WithTLSPolicy(gomail.NoTLS), gomail.WithTimeout(time.Second))
		t.Logf("plain SMTP to implicit-TLS port: after %v: %v", time.Since(start).Round(time.Millisecond), err)
		if err == nil {
			t.Errorf("plain SMTP to implicit TLS: no error")
		}
		if got := s.Count(t); got != 1 {
			t.Errorf("%d messages, want 1", got)
		}
	})
	t.Run("STARTTLS optional", func(t *testing.T) {
		s := mailpit.Start(t, mailpit.WithTLS(mailpit.STARTTLSOptional))
		if err := send(t, s, message(t, text), gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithTLSConfig(s.TLSConfig())); err != nil {
			t.Fatalf("STARTTLS send: %v", err)
		}
		if err := send(t, s, message(t, text), gomail.WithTLSPolicy(gomail.NoTLS)); err != nil {
			t.Fatalf("plain send: %v", err)
		}
		s.WaitForMessages(t, 2, 10*time.Second)
	})
}

func TestServer_Auth(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		s := mailpit.Start(t, mailpit.WithTLS(mailpit.STARTTLSRequired), mailpit.WithAuth("digest", "s3cret"))
		tlsOpts := []gomail.Option{gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithTLSConfig(s.TLSConfig())}
		if err := send(t, s, message(t, "hi"), append(tlsOpts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain), gomail.WithUsername(s.Username), gomail.WithPassword(s.Password))...); err != nil {
			t.Fatalf("send with auth: %v", err)
		}
		err := send(t, s, message(t, "hi"), append(tlsOpts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain), gomail.WithUsername("digest"), gomail.WithPassword("wrong"))...)
		t.Logf("wrong password: %v", err)
		if err == nil || !strings.Contains(err.Error(), "535") {
			t.Errorf("wrong password: err = %v", err)
		}
		err = send(t, s, message(t, "hi"), tlsOpts...)
		t.Logf("no AUTH: %v", err)
		if err == nil || !strings.Contains(err.Error(), `530 "5.7.0 Authentication required"`) {
			t.Errorf("no AUTH: err = %v", err)
		}
		if got := s.WaitForMessages(t, 1, 10*time.Second)[0].Username; got != "digest" {
			t.Errorf("Username = %q", got)
		}
	})
	t.Run("accept any, insecure", func(t *testing.T) {
		s := mailpit.Start(t, mailpit.WithAuthAcceptAny(), mailpit.WithAuthAllowInsecure())
		err := send(t, s, message(t, "hi"), gomail.WithTLSPolicy(gomail.NoTLS),
			gomail.WithSMTPAuth(gomail.SMTPAuthPlainNoEnc), gomail.WithUsername("anyone"), gomail.WithPassword("anything"))
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		if got := s.WaitForMessages(t, 1, 10*time.Second)[0].Username; got != "anyone" {
			t.Errorf("Username = %q", got)
		}
	})
}

func TestServer_Chaos(t *testing.T) {
	s := mailpit.Start(t, mailpit.WithChaos())
	s.SetChaos(t, mailpit.Chaos{Recipient: mailpit.ChaosTrigger{ErrorCode: 451, Probability: 100}})
	err := send(t, s, message(t, "hi"), gomail.WithTLSPolicy(gomail.NoTLS))
	t.Logf("chaos RCPT 451: %v", err)
	var se *gomail.SendError
	if !errors.As(err, &se) || !se.IsTemp() || se.ErrorCode() != 451 {
		t.Fatalf("err = %v, want a temporary 451 SendError", err)
	}
	s.SetChaos(t, mailpit.Chaos{})
	if err := send(t, s, message(t, "hi"), gomail.WithTLSPolicy(gomail.NoTLS)); err != nil {
		t.Fatalf("after chaos off: %v", err)
	}
	s.WaitForMessages(t, 1, 10*time.Second)
}
