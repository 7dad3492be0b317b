package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

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

// Job is one message to send.
type Job struct {
	Key string // the reader's EmailKey
	Msg *gomail.Msg
}

// ErrRelayDown is returned when no connection to the relay can be made:
// the readers not yet tried keep no outcome and the next run sends them.
var ErrRelayDown = errors.New("the mail relay cannot be reached")

// Send sends the jobs over opts.Connections connections, each dialled once
// and reused for many messages, and reports one outcome per job it tried.
// A job taken when the relay went down is reported temporary (its outcome
// is unknown: it is sent again later, the only way a reader can get a
// copy twice). Send returns when jobs is closed and drained, or with
// ErrRelayDown, or when ctx is done (after the message in hand).
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
	var client *gomail.Client
	defer func() {
		if client != nil {
			client.Close()
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
		if client == nil {
			var err error
			if client, err = dial(ctx, opts); err != nil {
				// Give the job back as untried: its reader keeps no outcome.
				return err
			}
		}
		if err := limiter.wait(ctx); err != nil {
			return nil
		}
		// The message in hand finishes even when ctx is cancelled.
		err := client.Send(job.Msg)
		out, reconnect := classify(job, err)
		outcomes <- out
		if reconnect {
			client.Close()
			client = nil
		}
	}
}

// dial connects, retrying with a short backoff.
func dial(ctx context.Context, opts SMTPOptions) (*gomail.Client, error) {
	c, err := newClient(opts)
	if err != nil {
		return nil, err
	}
	wait := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		dctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		err = c.DialWithContext(dctx)
		cancel()
		if err == nil {
			return c, nil
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

func newClient(opts SMTPOptions) (*gomail.Client, error) {
	o := []gomail.Option{
		gomail.WithPort(opts.Port), gomail.WithTimeout(opts.Timeout),
		// The connection was just made or just used: a NOOP before every
		// message would double the round trips.
		gomail.WithoutNoop(),
	}
	switch opts.TLS {
	case "none":
		o = append(o, gomail.WithTLSPolicy(gomail.NoTLS))
	case "tls":
		o = append(o, gomail.WithSSL())
	default:
		o = append(o, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if opts.Username != "" {
		o = append(o, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(opts.Username), gomail.WithPassword(opts.Password))
	}
	if opts.DKIM != nil {
		o = append(o, gomail.WithAlwaysDKIMSign(opts.DKIM))
	}
	c, err := gomail.NewClient(opts.Host, o...)
	if err != nil {
		return nil, fmt.Errorf("mail client: %w", err)
	}
	return c, nil
}

// classify turns a send's result into the reader's outcome and says
// whether the connection must be made again.
func classify(job Job, err error) (syndicate.Outcome, bool) {
	out := syndicate.Outcome{Key: job.Key}
	if err == nil || job.Msg.IsDelivered() {
		// Delivered: the relay took the message (a failed RSET afterwards
		// does not change that).
		out.State = syndicate.DeliverySent
		return out, err != nil
	}
	out.Reply = reply(err)
	var se *gomail.SendError
	code := 0
	if errors.As(err, &se) {
		code = se.ErrorCode()
	}
	switch {
	case code >= 500:
		out.State = syndicate.DeliveryFailed
		return out, false
	case code >= 400:
		// 421 closes the connection; 451/452/454 leave it usable.
		out.State = syndicate.DeliveryTemp
		return out, code == 421
	default:
		// No SMTP reply: the connection broke. If it broke after the final
		// "." the relay may have the message; sending again is the only
		// way not to miss the reader.
		out.State = syndicate.DeliveryTemp
		return out, true
	}
}

// reply is the server's reply in an error, without go-mail's wording.
func reply(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ", affected recipient"); i > 0 {
		msg = msg[:i]
	}
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
