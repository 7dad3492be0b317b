package mail

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"golang.org/x/time/rate"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// Relay is a mail relay to send through: Send with these options (it is
// the digest job's Mailer).
type Relay SMTPOptions

// Send sends the jobs through the relay; see the function Send.
func (r Relay) Send(ctx context.Context, jobs <-chan Job, outcomes chan<- syndicate.Outcome) error {
	return Send(ctx, SMTPOptions(r), jobs, outcomes)
}

// Send sends the jobs over opts.Connections connections, each dialled once
// and reused for many messages, and reports one outcome per job it tried.
// A message whose connection broke mid-send is reported temporary: its
// outcome is unknown and it is sent again later, the only way a reader can
// get a copy twice. A job taken when no connection can be made gets no
// outcome at all, so its reader stays pending; so does the job in hand
// when the relay refuses the whole session. Send returns when jobs is
// closed and drained, or with ErrRelayDown, a *SetupError, or when ctx is
// done (after the message in hand).
//
// Before the first message, one connection checks that the relay speaks
// the TLS the config says (see probe), so a mismatch ends the run within
// seconds instead of after a timeout per reader.
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
	if err := probe(ctx, opts); err != nil {
		return err
	}
	var limiter *rate.Limiter
	if opts.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(opts.Rate), 1)
	}
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
func worker(ctx context.Context, opts SMTPOptions, limiter *rate.Limiter, jobs <-chan Job, outcomes chan<- syndicate.Outcome) error {
	var c *conn
	defer func() {
		if c != nil {
			c.close(false)
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
		if limiter != nil {
			if err := limiter.Wait(ctx); err != nil {
				return nil
			}
		}
		// The message in hand finishes even when ctx is cancelled.
		out, next := c.send(job, opts.DKIM)
		if next.fatal != nil {
			// The relay refuses the session: the reader is not to blame
			// and keeps no outcome.
			return next.fatal
		}
		outcomes <- out
		if next.reconnect {
			c.close(true)
			c = nil
		}
	}
}
