package mail

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
)

// TestBuild_ReaderNames: a name from the subscriber list can neither fail
// the message nor add a header; quotes survive, escaped as RFC 5322 says.
func TestBuild_ReaderNames(t *testing.T) {
	env, err := NewEnvelope("Daily Brief <brief@example.org>", "", "1", "abcdef012345", time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, want string }{
		{`Dwayne "The Rock" Johnson`, `"Dwayne \"The Rock\" Johnson" <r@example.org>`},
		{"Evil\r\nBcc: victim@example.org", `"Evil Bcc: victim@example.org" <r@example.org>`},
		{"Smith, John", `"Smith, John" <r@example.org>`},
		{`back\slash`, `"back\\slash" <r@example.org>`},
		{"Zoë Ångström", "=?utf-8?q?Zo=C3=AB_=C3=85ngstr=C3=B6m?= <r@example.org>"},
		{"", "<r@example.org>"},
	}
	for _, tt := range tests {
		msg, err := Build(env, syndicate.Reader{Email: "r@example.org", Name: tt.name}, digest.Message{Subject: "S\r\nBcc: x@evil.example", Text: "t", HTML: "<p>h</p>"}, "https://e.org/u?token=a.b", gomail.EncodingQP)
		if err != nil {
			t.Fatalf("%q: %v", tt.name, err)
		}
		var b bytes.Buffer
		if _, err := msg.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(&b)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Header.Get("To"); got != tt.want {
			t.Errorf("%q: To = %s, want %s", tt.name, got, tt.want)
		}
		if m.Header.Get("Bcc") != "" {
			t.Errorf("%q: a Bcc header was injected", tt.name)
		}
		if got := m.Header.Get("Subject"); strings.ContainsAny(got, "\r\n") || got != "S Bcc: x@evil.example" {
			t.Errorf("Subject = %q", got)
		}
	}
}
