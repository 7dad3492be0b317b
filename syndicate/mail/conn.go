package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// conn is one connection to the relay. go-mail dials it (TLS, AUTH,
// EHLO) and builds the messages; the envelope and the DATA phase are
// written here on go-mail's exported textproto connection, because
// go-mail's per-byte quoted-printable encoding and dot-stuffing were most
// of the CPU of a send.
type conn struct {
	gc         *gomail.Client
	sc         *smtp.Client
	eightBit   bool // the relay takes 8bit bodies (8BITMIME)
	pipelining bool // MAIL, RCPT and DATA may go in one write (RFC 2920)
	timeout    time.Duration
	buf        bytes.Buffer
}

// dial connects, retrying with a short backoff. A refused login, an
// untrusted certificate or a refused session is not retried.
func dial(ctx context.Context, opts SMTPOptions) (*conn, error) {
	gc, err := newClient(opts)
	if err != nil {
		return nil, err
	}
	wait := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		dctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		sc, err := gc.DialToSMTPClientWithContext(dctx)
		cancel()
		if err == nil {
			eight, _ := sc.Extension("8BITMIME")
			pipe, _ := sc.Extension("PIPELINING")
			return &conn{gc: gc, sc: sc, eightBit: eight, pipelining: pipe, timeout: opts.Timeout}, nil
		}
		if setup := setupProblem(err, opts); setup != nil {
			return nil, setup
		}
		if attempt >= opts.DialRetries || ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %s:%d: %v", ErrRelayDown, opts.Host, opts.Port, err)
		}
		opts.Logger.Warn("cannot connect to the mail relay; retrying", "host", opts.Host, "port", opts.Port, "wait", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		wait *= 2
	}
}

// close ends the connection: QUIT on one in good order, with a fresh
// deadline (it may have been idle); a broken one, or one whose QUIT
// fails, is only closed, so no socket is left open and no QUIT waits out
// the timeout on a relay that has stopped answering.
func (c *conn) close(broken bool) {
	if !broken && c.sc.UpdateDeadline(c.timeout) == nil && c.gc.CloseWithSMTPClient(c.sc) == nil {
		return
	}
	c.sc.Close()
}

// next says what the worker does after a message.
type next struct {
	reconnect bool  // the connection is broken or closing: close it, dial anew
	fatal     error // the relay refuses the session: stop the send
}

// send sends one message.
func (c *conn) send(job Job, signer *Signer) (syndicate.Outcome, next) {
	out := syndicate.Outcome{Key: job.Key}
	m, err := Encode(job.Build, c.eightBit, signer, &c.buf)
	if err != nil {
		out.State, out.Reply = syndicate.DeliveryFailed, "cannot build the message: "+err.Error()
		return out, next{}
	}
	// The timeout bounds each message: go-mail sets the deadline once,
	// at the dial, and a connection lives for many messages.
	if err := c.sc.UpdateDeadline(c.timeout); err != nil {
		return outcome(out, err, nil, false)
	}
	if c.pipelining {
		mailErr, err := c.envelopePipelined(m.From, m.To, m.EightBit)
		if mailErr != nil {
			return outcome(out, mailErr, c.sc, true)
		}
		if err != nil {
			return outcome(out, err, c.sc, false)
		}
	} else {
		if err := c.sc.Mail(m.From); err != nil {
			return outcome(out, err, c.sc, true)
		}
		for _, rcpt := range m.To {
			if err := c.sc.Rcpt(rcpt); err != nil {
				return outcome(out, err, c.sc, false)
			}
		}
		if err := startData(c.sc); err != nil {
			return outcome(out, err, c.sc, false)
		}
	}
	if err := writeData(c.sc, m.Raw); err != nil {
		return outcome(out, err, nil, false)
	}
	out.State = syndicate.DeliverySent
	return out, next{}
}

// envelopePipelined sends MAIL FROM, RCPT TO and DATA in one write and
// reads their replies (RFC 2920): one round trip instead of three. It
// returns MAIL FROM's refusal apart (a refusal of the session). When a
// recipient is refused but DATA is accepted anyway, an empty message ends
// the transaction and the refusal is reported.
func (c *conn) envelopePipelined(from string, to []string, eightBit bool) (mailErr, err error) {
	w := c.sc.Text.W
	body := ""
	if eightBit {
		body = " BODY=8BITMIME"
	}
	fmt.Fprintf(w, "MAIL FROM:<%s>%s\r\n", bare(from), body)
	for _, rcpt := range to {
		fmt.Fprintf(w, "RCPT TO:<%s>\r\n", bare(rcpt))
	}
	w.WriteString("DATA\r\n")
	if err := w.Flush(); err != nil {
		return nil, err
	}
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	_, _, mailErr = c.sc.Text.ReadResponse(250)
	for range to {
		_, _, err := c.sc.Text.ReadResponse(25)
		keep(err)
	}
	_, _, err = c.sc.Text.ReadResponse(354)
	if err == nil && (first != nil || mailErr != nil) {
		// DATA was accepted although something before it failed: end
		// the transaction with an empty message and report the failure.
		c.sc.Text.W.WriteString(".\r\n")
		c.sc.Text.W.Flush()
		c.sc.Text.ReadResponse(0)
		if mailErr != nil {
			return mailErr, nil
		}
		return nil, first
	}
	if mailErr != nil {
		return mailErr, nil
	}
	keep(err)
	return nil, first
}

// bare is an address without angle brackets.
func bare(addr string) string {
	if len(addr) > 1 && addr[0] == '<' && addr[len(addr)-1] == '>' {
		return addr[1 : len(addr)-1]
	}
	return addr
}

// startData sends DATA and waits for the go-ahead.
func startData(sc *smtp.Client) error {
	id, err := sc.Text.Cmd("DATA")
	if err != nil {
		return err
	}
	sc.Text.StartResponse(id)
	_, _, err = sc.Text.ReadResponse(354)
	sc.Text.EndResponse(id)
	return err
}

func newClient(opts SMTPOptions) (*gomail.Client, error) {
	o := []gomail.Option{gomail.WithPort(opts.Port), gomail.WithTimeout(opts.Timeout), gomail.WithTLSConfig(tlsConfig(opts))}
	switch opts.TLS {
	case "none":
		o = append(o, gomail.WithTLSPolicy(gomail.NoTLS))
	case "tls":
		o = append(o, gomail.WithSSL())
	default:
		o = append(o, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if opts.Username != "" {
		// Over TLS go-mail picks the best mechanism the relay offers;
		// without (a relay on localhost: config validation refuses any
		// other) only PLAIN is left.
		mech := gomail.SMTPAuthAutoDiscover
		if opts.TLS == "none" {
			mech = gomail.SMTPAuthPlainNoEnc
		}
		o = append(o, gomail.WithSMTPAuth(mech), gomail.WithUsername(opts.Username), gomail.WithPassword(opts.Password))
	}
	c, err := gomail.NewClient(opts.Host, o...)
	if err != nil {
		return nil, fmt.Errorf("mail client: %w", err)
	}
	return c, nil
}

// replyCode is the SMTP reply code in an error, or 0.
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}
