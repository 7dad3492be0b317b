// Package mail builds the digest messages and sends them through an SMTP
// relay with go-mail: a pool of reused connections, an optional rate,
// retries of temporary failures, and a per-reader ledger of outcomes.
package mail

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
	"github.com/syndicate-bot/syndicate/syndicate/text"
)

// Envelope is what every message of one digest shares.
type Envelope struct {
	From     string // "Daily Brief <brief@example.org>"
	ListID   string // List-Id value without brackets, e.g. "digest.example.org"
	DigestID string // part of the Message-ID: stable per digest and reader
	Date     time.Time
}

// NewEnvelope fills the List-Id from the sender's domain when listID is
// empty.
func NewEnvelope(from, listID, digestID string, date time.Time) (Envelope, error) {
	a, err := mail.ParseAddress(from)
	if err != nil {
		return Envelope{}, fmt.Errorf("email.from: %w", err)
	}
	if listID == "" {
		listID = "digest." + domainOf(a.Address)
	}
	return Envelope{From: from, ListID: listID, DigestID: digestID, Date: date}, nil
}

func domainOf(addr string) string {
	if i := strings.LastIndex(addr, "@"); i >= 0 {
		return addr[i+1:]
	}
	return "localhost"
}

// MessageID is the stable Message-ID of a digest for one reader: a resend
// after a crash carries the same ID, so mail systems can drop the copy.
func (e Envelope) MessageID(email string) string {
	h := sha256.Sum256([]byte(e.ListID + "\x00" + syndicate.EmailKey(email)))
	a, _ := mail.ParseAddress(e.From)
	return fmt.Sprintf("digest-%s-%s@%s", e.DigestID, hex.EncodeToString(h[:10]), domainOf(a.Address))
}

// Build makes the message for one reader: multipart/alternative with the
// plain text first and the HTML last (the preferred part), and the RFC 8058
// one-click unsubscribe headers.
func Build(e Envelope, r syndicate.Reader, m digest.Message, unsubscribeURL string) (*gomail.Msg, error) {
	return BuildEncoded(e, r, m, unsubscribeURL, gomail.EncodingQP)
}

// BuildEncoded is Build with the body encoding chosen: quoted-printable,
// or 8bit for a relay that announces 8BITMIME.
func BuildEncoded(e Envelope, r syndicate.Reader, m digest.Message, unsubscribeURL string, enc gomail.Encoding) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent(), gomail.WithEncoding(enc))
	if err := msg.From(e.From); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	// The reader's name comes from a CSV of many hands: control
	// characters and line breaks go, and net/mail quotes the rest as RFC
	// 5322 allows (`"Dwayne \"The Rock\" Johnson" <…>`), so a name can
	// neither fail the reader nor inject a header.
	to, err := mail.ParseAddress(r.Email)
	if err != nil {
		return nil, fmt.Errorf("to %s: %w", r.Email, err)
	}
	msg.ToMailAddress(&mail.Address{Name: text.OneLine(r.Name), Address: to.Address})
	msg.Subject(text.OneLine(m.Subject))
	msg.SetDateWithValue(e.Date)
	msg.SetMessageIDWithValue(e.MessageID(r.Email))
	msg.SetGenHeaderPreformatted(gomail.Header("List-Id"), "<"+e.ListID+">")
	msg.SetListUnsubscribe(unsubscribeURL)
	msg.SetListUnsubscribePost()
	msg.SetBulk()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	return msg, nil
}
