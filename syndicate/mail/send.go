package mail

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/syndicate-bot/syndicate/syndicate"
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
	DKIM        *gomail.DKIMSigner
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

// Send sends the jobs over opts.Connections connections, each dialled once
// and reused for many messages, and reports one outcome per job it tried.
// A message whose connection broke mid-send is reported temporary: its
// outcome is unknown and it is sent again later, the only way a reader can
// get a copy twice. A job taken when no connection can be made gets no
// outcome at all, so its reader stays pending. Send returns when jobs is
// closed and drained, or with ErrRelayDown, or when ctx is done (after the
// message in hand).
func Send(ctx context.Context, opts SMTPOptions, jobs <-chan Job, outcomes chan<- syndicate.Outcome) error {
	if opts.Connections < 1 {
		opts.Connections = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.DialRetries <= 0 {
		opts.DialRetries = 3
	}
	limiter := newLimiter(opts.Rate)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for i := 0; i < opts.Connections; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := worker(ctx, opts, limiter, jobs, outcomes); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// worker owns one connection.
func worker(ctx context.Context, opts SMTPOptions, limiter *limiter, jobs <-chan Job, outcomes chan<- syndicate.Outcome) error {
	var c *conn
	defer func() {
		if c != nil {
			c.close()
		}
	}()
	for {
		var job Job
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case job, ok = <-jobs:
			if !ok {
				return nil
			}
		}
		if c == nil {
			var err error
			if c, err = dial(ctx, opts); err != nil {
				// The job's reader keeps no outcome: sent on a later run.
				return err
			}
		}
		if err := limiter.wait(ctx); err != nil {
			return nil
		}
		// The message in hand finishes even when ctx is cancelled.
		out, reconnect := c.send(job, opts.DKIM)
		outcomes <- out
		if reconnect {
			c.close()
			c = nil
		}
	}
}

// conn is one connection to the relay. go-mail dials it (TLS, AUTH,
// EHLO) and builds and signs the messages; the DATA phase writes the
// encoded message with a fast dot-stuffer on go-mail's exported
// textproto connection, because go-mail's per-byte quoted-printable
// encoding and dot-stuffing were most of the CPU of a send.
type conn struct {
	gc         *gomail.Client
	sc         *smtp.Client
	eightBit   bool // the relay takes 8bit bodies (8BITMIME)
	pipelining bool // MAIL, RCPT and DATA may go in one write (RFC 2920)
	buf        bytes.Buffer
}

// dial connects, retrying with a short backoff.
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
		if err != nil && strings.Contains(err.Error(), "SMTP AUTH failed") {
			return nil, fmt.Errorf("%w (email.smtp.username and password)", ErrAuth)
		}
		if err == nil {
			eight, _ := sc.Extension("8BITMIME")
			pipe, _ := sc.Extension("PIPELINING")
			return &conn{gc: gc, sc: sc, eightBit: eight, pipelining: pipe}, nil
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

func (c *conn) close() { c.gc.CloseWithSMTPClient(c.sc) }

// send sends one message and says whether to reconnect.
func (c *conn) send(job Job, dkim *gomail.DKIMSigner) (syndicate.Outcome, bool) {
	out := syndicate.Outcome{Key: job.Key}
	// 8bit is sent as written; with DKIM, quoted-printable keeps the
	// signature valid if a later hop must downgrade the body.
	enc := gomail.EncodingQP
	if c.eightBit && dkim == nil {
		enc = gomail.NoEncoding
	}
	raw, from, to, err := c.encode(job, enc, dkim)
	if err == nil && enc == gomail.NoEncoding && hasLongLine(raw) {
		// SMTP lines end by 998 octets: this one needs quoted-printable.
		raw, from, to, err = c.encode(job, gomail.EncodingQP, dkim)
	}
	if err != nil {
		out.State, out.Reply = syndicate.DeliveryFailed, "cannot build the message: "+err.Error()
		return out, false
	}
	if c.pipelining {
		if err := c.envelopePipelined(from, to, enc); err != nil {
			return outcome(out, err, c.sc)
		}
	} else {
		if err := c.sc.Mail(from); err != nil {
			return outcome(out, err, c.sc)
		}
		for _, rcpt := range to {
			if err := c.sc.Rcpt(rcpt); err != nil {
				return outcome(out, err, c.sc)
			}
		}
		if err := startData(c.sc); err != nil {
			return outcome(out, err, c.sc)
		}
	}
	if err := writeData(c.sc, raw); err != nil {
		return outcome(out, err, nil)
	}
	out.State = syndicate.DeliverySent
	return out, false
}

// envelopePipelined sends MAIL FROM, RCPT TO and DATA in one write and
// reads their replies (RFC 2920): one round trip instead of three. When
// a recipient is refused but DATA is accepted anyway, an empty message
// ends the transaction and the refusal is reported.
func (c *conn) envelopePipelined(from string, to []string, enc gomail.Encoding) error {
	w := c.sc.Text.W
	body := ""
	if enc == gomail.NoEncoding {
		body = " BODY=8BITMIME"
	}
	fmt.Fprintf(w, "MAIL FROM:<%s>%s\r\n", bare(from), body)
	for _, rcpt := range to {
		fmt.Fprintf(w, "RCPT TO:<%s>\r\n", bare(rcpt))
	}
	w.WriteString("DATA\r\n")
	if err := w.Flush(); err != nil {
		return err
	}
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	_, _, err := c.sc.Text.ReadResponse(250)
	keep(err)
	for range to {
		_, _, err := c.sc.Text.ReadResponse(25)
		keep(err)
	}
	_, _, err = c.sc.Text.ReadResponse(354)
	if err == nil && first != nil {
		// DATA was accepted although something before it failed: end
		// the transaction with an empty message and report the failure.
		c.sc.Text.W.WriteString(".\r\n")
		c.sc.Text.W.Flush()
		c.sc.Text.ReadResponse(0)
		return first
	}
	keep(err)
	return first
}

func (c *conn) encode(job Job, enc gomail.Encoding, dkim *gomail.DKIMSigner) ([]byte, string, []string, error) {
	msg, err := job.Build(enc)
	if err != nil {
		return nil, "", nil, err
	}
	if dkim != nil {
		msg.SetDKIM(dkim)
	}
	from, err := msg.GetSender(false)
	if err != nil {
		return nil, "", nil, err
	}
	to, err := msg.GetRecipients()
	if err != nil {
		return nil, "", nil, err
	}
	c.buf.Reset()
	if _, err := msg.WriteTo(&c.buf); err != nil {
		return nil, "", nil, err
	}
	return c.buf.Bytes(), from, to, nil
}

// outcome classifies a failed command. After a refusal the transaction
// is reset with RSET on the same connection (rset); a failure without an
// SMTP reply means the connection broke.
func outcome(out syndicate.Outcome, err error, rset *smtp.Client) (syndicate.Outcome, bool) {
	out.Reply = reply(err)
	var te *textproto.Error
	if !errors.As(err, &te) {
		// No reply: the connection broke. If it broke after the final
		// "." the relay may have the message; sending again is the only
		// way not to miss the reader.
		out.State = syndicate.DeliveryTemp
		return out, true
	}
	if te.Code >= 500 {
		out.State = syndicate.DeliveryFailed
	} else {
		out.State = syndicate.DeliveryTemp
	}
	if te.Code == 421 {
		return out, true // the relay is closing the connection
	}
	if rset != nil && rset.Reset() != nil {
		return out, true
	}
	return out, false
}

// bare is an address without angle brackets.
func bare(addr string) string { return strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">") }

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

// writeData sends the message, dot-stuffed with CRLF line ends, and the
// final ".", and reads the reply.
func writeData(sc *smtp.Client, raw []byte) error {
	// The whole message in one write: bufio passes a write larger than
	// its buffer straight to the connection.
	out := bufio.NewWriterSize(sc.Text.W, len(raw)+len(raw)/32+64)
	if err := writeDotStuffed(out, raw); err != nil {
		return err
	}
	if _, err := out.WriteString(".\r\n"); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if err := sc.Text.W.Flush(); err != nil {
		return err
	}
	_, _, err := sc.Text.ReadResponse(250)
	return err
}

// writeDotStuffed writes raw as SMTP DATA: every line ends in CRLF and a
// line starting with "." gets another (RFC 5321 4.5.2). A lone CR or LF
// ends a line too and is written as CRLF, so nothing a body holds can
// make "\r.\r\n" or a bare line end on the wire (SMTP smuggling). It works
// a line at a time, not a byte at a time.
func writeDotStuffed(w *bufio.Writer, raw []byte) error {
	for len(raw) > 0 {
		line, rest := raw, []byte(nil)
		if i := bytes.IndexAny(raw, "\r\n"); i >= 0 {
			line, rest = raw[:i], raw[i+1:]
			if raw[i] == '\r' && len(rest) > 0 && rest[0] == '\n' {
				rest = rest[1:]
			}
		}
		if len(line) > 0 && line[0] == '.' {
			w.WriteByte('.')
		}
		w.Write(line)
		if _, err := w.WriteString("\r\n"); err != nil {
			return err
		}
		raw = rest
	}
	return nil
}

// hasLongLine reports a line longer than SMTP's 998 octets.
func hasLongLine(raw []byte) bool {
	for len(raw) > 998 {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			return true
		}
		if i > 999 || (i == 999 && raw[998] != '\r') {
			return true
		}
		raw = raw[i+1:]
	}
	return false
}

func newClient(opts SMTPOptions) (*gomail.Client, error) {
	o := []gomail.Option{gomail.WithPort(opts.Port), gomail.WithTimeout(opts.Timeout)}
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

// reply is the server's reply in an error.
func reply(err error) string {
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return msg
}

// limiter spaces messages out to a rate over all connections.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func newLimiter(rate float64) *limiter {
	if rate <= 0 {
		return &limiter{}
	}
	return &limiter{interval: time.Duration(float64(time.Second) / rate)}
}

func (l *limiter) wait(ctx context.Context) error {
	if l.interval == 0 {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	at := l.next
	l.next = l.next.Add(l.interval)
	l.mu.Unlock()
	if d := time.Until(at); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
