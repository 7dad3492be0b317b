// Package mail builds the digest messages and sends them through an SMTP
// relay with go-mail: a pool of reused connections, an optional rate,
// DKIM signatures made with go-msgauth, and an outcome per reader for the
// ledger. The files split it by concern: message.go builds a reader's
// message and its bytes, dkim.go signs them, send.go runs the pool,
// conn.go speaks to the relay, data.go writes DATA, outcome.go classifies
// replies, tls.go checks the relay's TLS before anything is sent.
package mail

import (
	"crypto/x509"
	"errors"
	"log/slog"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SMTPOptions are the relay's settings.
type SMTPOptions struct {
	Host        string
	Port        int
	Username    string
	Password    string
	TLS         string // starttls, tls or none
	Connections int
	Rate        float64 // messages per second over all connections; 0: no limit
	Timeout     time.Duration
	// RootCAs are the CAs the relay's certificate must chain to
	// (email.smtp.ca_file); nil is the system's.
	RootCAs *x509.CertPool
	DKIM    *Signer
	// DialRetries is how often a lost connection is dialled again before
	// the send stops (the relay is down); the next run goes on.
	DialRetries int
	Logger      *slog.Logger
}

// Job is one message to send. Build makes it in the given encoding: the
// connection decides (8bit where the relay takes it, else
// quoted-printable), and building happens on the sending goroutines.
type Job struct {
	Key   string // the reader's EmailKey
	Build func(gomail.Encoding) (*gomail.Msg, error)
}

// ErrRelayDown is returned when no connection to the relay can be made:
// the readers not yet tried keep no outcome and the next run sends them.
var ErrRelayDown = errors.New("the mail relay cannot be reached")

// ErrAuth is returned when the relay refuses the username and password.
var ErrAuth = errors.New("the mail relay refused the login")

// ErrRefused is returned when the relay refuses the whole session (a 5xx
// to MAIL FROM, or its greeting): no reader is to blame, none is recorded
// as failed, and the run stops.
var ErrRefused = errors.New("the mail relay refuses to take mail from us")

// ErrTLS is returned when the relay's TLS is not what the config says: an
// untrusted certificate, or STARTTLS against a port that speaks implicit
// TLS (or the other way round). Retrying will not help.
var ErrTLS = errors.New("TLS with the mail relay failed")

// SetupError is a relay problem the person running the bot must fix: Err
// is ErrAuth, ErrRefused or ErrTLS, Detail says what happened, Hint what
// to set.
type SetupError struct {
	Err    error
	Detail string
	Hint   string
}

func (e *SetupError) Error() string { return e.Err.Error() + ": " + e.Detail }
func (e *SetupError) Unwrap() error { return e.Err }
