package mail

import (
	"bytes"
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

// The longest subject and reader name written in a header, in characters
// (graphemes): RFC 5322 wants lines under 998 octets, and one long word
// cannot be folded.
const (
	MaxSubjectLength = 200
	MaxNameLength    = 100
)

// Envelope is what every message of one digest shares.
type Envelope struct {
	From     string // "Daily Brief <brief@example.org>"
	ListID   string // List-Id value without brackets, e.g. "digest.example.org"
	DigestID string // part of the Message-ID: stable per digest and reader
	// Install is a random part kept in the state, so two installations
	// mailing the same list never make the same Message-ID.
	Install string
	Date    time.Time
}

// NewEnvelope fills the List-Id from the sender's domain when listID is
// empty.
func NewEnvelope(from, listID, digestID, install string, date time.Time) (Envelope, error) {
	a, err := mail.ParseAddress(from)
	if err != nil {
		return Envelope{}, fmt.Errorf("email.from: %w", err)
	}
	if listID == "" {
		listID = "digest." + domainOf(a.Address)
	}
	return Envelope{From: from, ListID: listID, DigestID: digestID, Install: install, Date: date}, nil
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
	return fmt.Sprintf("digest-%s-%s-%s@%s", e.Install, e.DigestID, hex.EncodeToString(h[:10]), domainOf(a.Address))
}

// Build makes the message for one reader: multipart/alternative with the
// plain text first and the HTML last (the preferred part), and the RFC 8058
// one-click unsubscribe headers. Every header is written in a fixed order
// and the MIME boundary comes from the Message-ID, so the same reader and
// digest always give the same bytes (a dry run's .eml is the message).
func Build(e Envelope, r syndicate.Reader, m digest.Message, unsubscribeURL string, enc gomail.Encoding) (*gomail.Msg, error) {
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
	// Shortened, so that no header line passes SMTP's 998 octets when a
	// name or a title is one long word that cannot be folded.
	msg.ToMailAddress(&mail.Address{Name: text.Shorten(text.OneLine(r.Name), MaxNameLength), Address: to.Address})
	msg.Subject(text.Shorten(text.OneLine(m.Subject), MaxSubjectLength))
	msg.SetDateWithValue(e.Date)
	id := e.MessageID(r.Email)
	msg.SetMessageIDWithValue(id)
	// go-mail writes "preformatted" headers in map order: these go in the
	// sorted generic headers instead.
	msg.SetGenHeader(gomail.Header("List-Id"), "<"+e.ListID+">")
	msg.SetGenHeader(gomail.HeaderListUnsubscribe, "<"+unsubscribeURL+">")
	msg.SetGenHeader(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	msg.SetBulk()
	b := sha256.Sum256([]byte("boundary\x00" + id))
	msg.SetBoundary(hex.EncodeToString(b[:24]))
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	return msg, nil
}

// Encoded is a message as it goes to the relay.
type Encoded struct {
	Raw      []byte // CRLF line ends, signed when DKIM is on
	From     string
	To       []string
	EightBit bool // the body is 8bit: MAIL FROM says BODY=8BITMIME
}

// Encode builds a job's message and writes it as it goes on the wire:
// 8bit for a relay that announces 8BITMIME and no DKIM, else
// quoted-printable (a signature must survive a hop that would downgrade
// 8bit), and quoted-printable for any body with a line over SMTP's 998
// octets; then signed. The send and the dry run's .eml both come from
// here.
func Encode(build func(gomail.Encoding) (*gomail.Msg, error), eightBitRelay bool, signer *Signer, buf *bytes.Buffer) (Encoded, error) {
	enc := gomail.EncodingQP
	if eightBitRelay && signer == nil {
		enc = gomail.NoEncoding
	}
	out, err := encodeWith(build, enc, buf)
	if err == nil && enc == gomail.NoEncoding && hasLongLine(out.Raw) {
		enc = gomail.EncodingQP
		out, err = encodeWith(build, enc, buf)
	}
	if err != nil {
		return out, err
	}
	out.EightBit = enc == gomail.NoEncoding
	if signer != nil {
		if out.Raw, err = signer.Sign(out.Raw); err != nil {
			return out, err
		}
	}
	return out, nil
}

func encodeWith(build func(gomail.Encoding) (*gomail.Msg, error), enc gomail.Encoding, buf *bytes.Buffer) (Encoded, error) {
	msg, err := build(enc)
	if err != nil {
		return Encoded{}, err
	}
	from, err := msg.GetSender(false)
	if err != nil {
		return Encoded{}, err
	}
	to, err := msg.GetRecipients()
	if err != nil {
		return Encoded{}, err
	}
	buf.Reset()
	if _, err := msg.WriteTo(buf); err != nil {
		return Encoded{}, err
	}
	return Encoded{Raw: crlf(buf.Bytes()), From: from, To: to}, nil
}

// crlf makes every line end CRLF: go-mail keeps a body's bare LF in 8bit,
// and the signature must be over the bytes that go on the wire.
func crlf(raw []byte) []byte {
	if !bytes.Contains(raw, []byte{'\n'}) {
		return raw
	}
	n := bytes.Count(raw, []byte{'\n'}) - bytes.Count(raw, []byte("\r\n"))
	if n == 0 {
		return raw
	}
	out := make([]byte, 0, len(raw)+n)
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\n' && (i == 0 || raw[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, raw[i])
	}
	return out
}
