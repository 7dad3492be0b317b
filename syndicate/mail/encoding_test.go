package mail

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	gomail "github.com/wneessen/go-mail"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
)

// undot is a DATA body as the relay stores it: the final "." gone and
// the dot-stuffing undone.
func undot(body string) string {
	body = strings.TrimSuffix(body, ".\r\n")
	var b strings.Builder
	for _, l := range strings.SplitAfter(body, "\r\n") {
		b.WriteString(strings.TrimPrefix(l, "."))
	}
	return b.String()
}

// parts is the decoded text of each part of a multipart message, with
// each part's Content-Transfer-Encoding.
func parts(t *testing.T, raw string) (texts, encodings []string) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return texts, encodings
		}
		if err != nil {
			t.Fatal(err)
		}
		cte := p.Header.Get("Content-Transfer-Encoding")
		var r io.Reader = p
		if cte == "quoted-printable" {
			r = quotedprintable.NewReader(p)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, strings.ReplaceAll(string(b), "\r\n", "\n"))
		encodings = append(encodings, cte)
	}
}

func ed25519Signer(t *testing.T) (*Signer, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner("example.org", "s1", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return s, "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
}

// TestSend_Encodings: the digest as the relay gets it. 8bit only where
// the relay offers 8BITMIME, DKIM is off and no line is over 998 octets
// (then MAIL FROM says BODY=8BITMIME); quoted-printable otherwise, with no
// 8bit octet on the wire. Whatever the encoding the reader gets the text
// back, and a signature verifies on what the relay stores.
func TestSend_Encodings(t *testing.T) {
	signer, txt := ed25519Signer(t)
	short := "Grüße aus Köln\n.a line that starts with a dot\n..and two\n"
	long := short + strings.Repeat("ä", 600) + "\n" // 1200 octets
	tests := []struct {
		name         string
		exts         []string
		envelope     string // the client's envelope and the relay's replies
		text         string
		dkim         bool
		wantEncoding string
	}{
		{
			name: "no 8BITMIME: quoted-printable", text: short, wantEncoding: "quoted-printable",
			envelope: acceptedOneByOne("r1@example.net"),
		},
		{
			name: "8BITMIME: 8bit", exts: []string{"PIPELINING", "8BITMIME"}, text: short, wantEncoding: "8bit",
			envelope: accepted("r1@example.net", "8BITMIME"),
		},
		{
			name: "8BITMIME and a line over 998 octets: quoted-printable", exts: []string{"PIPELINING", "8BITMIME"}, text: long, wantEncoding: "quoted-printable",
			envelope: accepted("r1@example.net", ""),
		},
		{
			name: "8BITMIME and DKIM: quoted-printable, signed", exts: []string{"PIPELINING", "8BITMIME"}, text: short, dkim: true, wantEncoding: "quoted-printable",
			envelope: accepted("r1@example.net", ""),
		},
		{
			name: "no 8BITMIME, DKIM: quoted-printable, signed", text: long, dkim: true, wantEncoding: "quoted-printable",
			envelope: acceptedOneByOne("r1@example.net"),
		},
	}
	env, err := NewEnvelope("Daily Brief <brief@example.org>", "", "7", "abcdef012345", testDate)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRelay(t, probeScript, greet(tt.exts...)+tt.envelope+quitScript)
			opts := r.opts()
			if tt.dkim {
				opts.DKIM = signer
			}
			msg := digest.Message{Subject: "Today", Text: tt.text, HTML: "<p>Grüße</p>"}
			job := Job{Key: "r1", Build: func(enc gomail.Encoding) (*gomail.Msg, error) {
				return Build(env, syndicate.Reader{Email: "r1@example.net", Name: "Zoë"}, msg, "https://example.org/u?t=1", enc)
			}}
			got, err := runSend(t, opts, job)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			checkOutcomes(t, got, []outcomeWant{{"r1", syndicate.DeliverySent, ""}})
			r.check(t)
			wire := r.body(t, 0)
			for i, l := range strings.Split(wire, "\r\n") {
				if len(l) > 998 {
					t.Errorf("line %d on the wire is %d octets", i, len(l))
				}
			}
			if got, want := strings.IndexFunc(wire, func(c rune) bool { return c >= 0x80 }) >= 0, tt.wantEncoding == "8bit"; got != want {
				t.Errorf("8bit octets on the wire: %v, want %v", got, want)
			}
			stored := undot(wire)
			texts, encs := parts(t, stored)
			if got, want := strings.Join(encs, ","), tt.wantEncoding+","+tt.wantEncoding; got != want {
				t.Errorf("Content-Transfer-Encoding of the parts: %s, want %s", got, want)
			}
			if len(texts) != 2 || strings.TrimRight(texts[0], "\n") != strings.TrimRight(tt.text, "\n") || texts[1] != msg.HTML {
				t.Errorf("the parts decode to %q, want %q and %q", texts, tt.text, msg.HTML)
			}
			vs, err := dkim.VerifyWithOptions(strings.NewReader(stored), &dkim.VerifyOptions{LookupTXT: func(domain string) ([]string, error) {
				if domain != "s1._domainkey.example.org" {
					t.Errorf("DKIM key looked up at %s", domain)
				}
				return []string{txt}, nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.dkim {
				if len(vs) != 0 {
					t.Errorf("%d signatures, want none", len(vs))
				}
				return
			}
			if len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "example.org" {
				t.Errorf("DKIM verifications %+v, want one good for example.org", vs)
			}
		})
	}
}

// TestEncode: the wire form of a message straight from Encode, and the
// messages it cannot make.
func TestEncode(t *testing.T) {
	noFrom := func(enc gomail.Encoding) (*gomail.Msg, error) {
		m := gomail.NewMsg()
		m.To("r@example.net")
		return m, nil
	}
	noTo := func(enc gomail.Encoding) (*gomail.Msg, error) {
		m := gomail.NewMsg()
		m.From("brief@example.org")
		return m, nil
	}
	failing := func(gomail.Encoding) (*gomail.Msg, error) { return nil, io.ErrUnexpectedEOF }
	tests := []struct {
		name    string
		build   func(gomail.Encoding) (*gomail.Msg, error)
		wantErr bool
	}{
		{"the build fails", failing, true},
		{"no From", noFrom, true},
		{"no To", noTo, true},
		{"a message", textJob("r1", "r1@example.net", "a\nb").Build, false},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		m, err := Encode(tt.build, true, nil, &buf)
		if got := err != nil; got != tt.wantErr {
			t.Errorf("%s: err %v, want an error: %v", tt.name, err, tt.wantErr)
			continue
		}
		if err == nil && (m.From != "<brief@example.org>" || len(m.To) != 1 || m.To[0] != "<r1@example.net>" || !m.EightBit || !bytes.HasSuffix(m.Raw, []byte("\r\na\r\nb"))) {
			t.Errorf("%s: %+v", tt.name, m)
		}
	}
}
