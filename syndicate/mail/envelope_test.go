package mail

import (
	"strings"
	"testing"

	gomail "github.com/wneessen/go-mail"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
)

func TestNewEnvelope(t *testing.T) {
	tests := []struct {
		from, listID string
		wantListID   string
		wantErr      bool
	}{
		{from: "Daily Brief <brief@example.org>", wantListID: "digest.example.org"},
		{from: "brief@example.org", listID: "news.example.com", wantListID: "news.example.com"},
		{from: "not an address", wantErr: true},
	}
	for _, tt := range tests {
		e, err := NewEnvelope(tt.from, tt.listID, "1", "abc", testDate)
		if got := err != nil; got != tt.wantErr {
			t.Errorf("NewEnvelope(%q): err %v, want an error: %v", tt.from, err, tt.wantErr)
			continue
		}
		if got, want := e.ListID, tt.wantListID; got != want {
			t.Errorf("NewEnvelope(%q): List-Id %q, want %q", tt.from, got, want)
		}
	}
}

// TestMessageID: stable for a reader however the address is written,
// different between readers, in the sender's domain.
func TestMessageID(t *testing.T) {
	e, err := NewEnvelope("Brief <brief@example.org>", "", "42", "inst", testDate)
	if err != nil {
		t.Fatal(err)
	}
	a, b, other := e.MessageID("Reader@Example.net"), e.MessageID(" reader@example.net "), e.MessageID("someone@example.net")
	if a != b || a == other {
		t.Errorf("MessageID: %q, %q for the same reader, %q for another", a, b, other)
	}
	if !strings.HasPrefix(a, "digest-inst-42-") || !strings.HasSuffix(a, "@example.org") {
		t.Errorf("MessageID = %q", a)
	}
	if got, want := domainOf("no-at-sign"), "localhost"; got != want {
		t.Errorf("domainOf = %q, want %q", got, want)
	}
}

func TestBuild_Errors(t *testing.T) {
	good, err := NewEnvelope("Brief <brief@example.org>", "", "1", "inst", testDate)
	if err != nil {
		t.Fatal(err)
	}
	bad := good
	bad.From = "not an address"
	tests := []struct {
		name  string
		env   Envelope
		email string
	}{
		{"a bad From", bad, "r@example.net"},
		{"a bad reader address", good, "not an address"},
	}
	for _, tt := range tests {
		if _, err := Build(tt.env, syndicate.Reader{Email: tt.email}, digest.Message{Subject: "s", Text: "t", HTML: "h"}, "https://example.org/u", gomail.EncodingQP); err == nil {
			t.Errorf("%s: Build made a message", tt.name)
		}
	}
}
