package mail_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
	"github.com/syndicate-bot/syndicate/syndicate/mail"
	"github.com/syndicate-bot/syndicate/syndicate/mail/smtptest"
)

// The attack (issue 11's review): an article title or a subscriber name
// that is one long word (no space to fold at) became a header line longer
// than RFC 5322's 998 octets, which go-mail cannot fold; a relay that
// enforces line length answers 500, a permanent failure of every reader.
// Subjects and names are shortened, so every header line fits.
func TestAttack_LongHeaderLine(t *testing.T) {
	env, err := mail.NewEnvelope("Daily Brief <brief@example.org>", "", "1", "abcdef012345", time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		reader  syndicate.Reader
		subject string
	}{
		"title in subject": {syndicate.Reader{Email: "a@example.org", Name: "Ann"}, "Daily Brief: " + strings.Repeat("T", 3000)},
		"reader name":      {syndicate.Reader{Email: "b@example.org", Name: strings.Repeat("N", 3000)}, "Daily Brief: news"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m := digest.Message{Subject: c.subject, Text: "hello\n", HTML: "<p>hello</p>\n"}
			msg, err := mail.Build(env, c.reader, m, "https://news.example.org/unsubscribe?token=x", gomail.EncodingQP)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if _, err := msg.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(buf.String(), "\r\n") {
				if len(line) > 998 {
					t.Errorf("line %d is %d octets (RFC 5322: at most 998): %.40s…", i+1, len(line), line)
				}
			}
			relay, err := smtptest.New()
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			jobs := make(chan mail.Job, 1)
			outcomes := make(chan syndicate.Outcome, 1)
			jobs <- mail.Job{Key: c.reader.Email, Build: func(enc gomail.Encoding) (*gomail.Msg, error) {
				return mail.Build(env, c.reader, m, "https://news.example.org/unsubscribe?token=x", enc)
			}}
			close(jobs)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = mail.Send(ctx, mail.SMTPOptions{Host: relay.Host, Port: relay.Port, TLS: "none", Connections: 1, Timeout: 5 * time.Second}, jobs, outcomes)
			close(outcomes)
			for o := range outcomes {
				if o.State != syndicate.DeliverySent {
					t.Errorf("outcome %s: %s (send err %v)", o.State, o.Reply, err)
				}
			}
		})
	}
}
