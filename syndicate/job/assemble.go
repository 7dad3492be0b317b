package job

import (
	"encoding/hex"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
	"github.com/syndicate-bot/syndicate/syndicate/mail"
	"github.com/syndicate-bot/syndicate/syndicate/unsubscribe"
)

// Names of the secrets the state keeps.
const (
	// SecretUnsubscribe signs the one-click unsubscribe tokens.
	SecretUnsubscribe = "unsubscribe"
	// SecretMessageID is this installation's random part of every
	// Message-ID.
	SecretMessageID = "message-id"
)

// InstallID is the Message-ID part made from the state's secret, or a
// stand-in of the same length before the state has one (a dry run).
func InstallID(secret []byte) string {
	if len(secret) < 6 {
		return "000000000000"
	}
	return hex.EncodeToString(secret[:6])
}

// Assembly is what every message of one digest shares: the envelope, the
// issue rendered per reader, and how a reader's unsubscribe link is made.
// The send and the dry runs both build it with Assemble, so a preview
// cannot drift from what is mailed.
type Assembly struct {
	Envelope mail.Envelope
	Issue    *digest.Issue
	// Link is a reader's unsubscribe URL.
	Link func(email string) string
}

// IssueOptions are the settings every digest's messages share.
type IssueOptions struct {
	From, ListID   string // email.from and email.list_id
	ArchiveURL     string // base_url: the archive the digest links to
	UnsubscribeURL string // email.unsubscribe_url
	Location       *time.Location
}

// NextIssue is the digest a send would make now: the articles it takes
// (chosen by ForDigest), newest first, at most maxArticles in full, and
// the corrections and retractions no digest carries yet (as the ledger's
// PendingNotices reads them, at most digest.MaxNotices). The send and the
// dry runs both make it here; a digest of corrections alone is sent (a
// correction must reach the readers who got the story). It returns the
// IDs of the articles beyond maxArticles.
func NextIssue(fresh []*syndicate.Article, notices []syndicate.Notice, date time.Time, maxArticles int, pics digest.Pictures) (digest.Digest, []string) {
	d, omitted := digest.New(fresh, date, maxArticles, pics)
	if len(notices) > digest.MaxNotices {
		notices = notices[:digest.MaxNotices]
	}
	d.Notices = notices
	return d, omitted
}

// Assemble builds the assembly of digest id, created at created. secret
// signs the unsubscribe tokens; nil makes tokens that unsubscribe nobody
// (a dry run's output is shared and kept).
func Assemble(o IssueOptions, r *digest.Renderer, id int64, install string, created time.Time, d digest.Digest, secret []byte) (Assembly, error) {
	env, err := mail.NewEnvelope(o.From, o.ListID, strconv.FormatInt(id, 10), install, created)
	if err != nil {
		return Assembly{}, err
	}
	loc := o.Location
	if loc == nil {
		loc = time.Local
	}
	d.Date = created.In(loc)
	d.ArchiveURL = o.ArchiveURL
	base := o.UnsubscribeURL
	link := func(email string) string {
		if secret == nil {
			return unsubscribe.Link(base, unsubscribe.DryRunToken(email))
		}
		return unsubscribe.Link(base, unsubscribe.Token(secret, env.ListID, email))
	}
	return Assembly{Envelope: env, Issue: r.Issue(d), Link: link}, nil
}

// Job renders the digest for one reader and returns the message to send.
func (as Assembly) Job(key string, reader syndicate.Reader) (mail.Job, digest.Message, error) {
	unsub := as.Link(reader.Email)
	m, err := as.Issue.Render(reader, unsub)
	if err != nil {
		return mail.Job{}, m, err
	}
	env := as.Envelope
	build := func(enc gomail.Encoding) (*gomail.Msg, error) {
		return mail.Build(env, reader, m, unsub, enc)
	}
	return mail.Job{Key: key, Build: build}, m, nil
}
