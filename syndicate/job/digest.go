package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
	"github.com/syndicate-bot/syndicate/syndicate/mail"
	"github.com/syndicate-bot/syndicate/syndicate/subscriber"
)

// DigestLedger is the part of the state the digest job needs.
type DigestLedger interface {
	ArticleRecords(ctx context.Context, network string) (map[string]syndicate.ArticleRecord, error)
	DigestedArticles(ctx context.Context) (map[string]bool, error)
	OpenDigest(ctx context.Context) (syndicate.DigestRecord, bool, error)
	CreateDigestFor(ctx context.Context, slot string, items []syndicate.DigestItem, omitted []string, notices []syndicate.Notice) (syndicate.DigestRecord, bool, error)
	DigestItems(ctx context.Context, digestID int64) ([]syndicate.DigestItem, error)
	PendingNotices(ctx context.Context, limit int) ([]syndicate.Notice, error)
	DigestNotices(ctx context.Context, digestID int64) ([]syndicate.Notice, error)
	ResetReaders(ctx context.Context, digestID int64) error
	AddReaders(ctx context.Context, digestID int64, readers []syndicate.Reader) (int, error)
	StartDigest(ctx context.Context, digestID int64) error
	FinishDigest(ctx context.Context, digestID int64) error
	PendingDeliveries(ctx context.Context, digestID int64, afterKey string, maxAttempts, limit int) ([]syndicate.Delivery, error)
	CountPending(ctx context.Context, digestID int64, maxAttempts int) (int, error)
	RecordOutcomes(ctx context.Context, digestID int64, outcomes []syndicate.Outcome) error
	GiveUp(ctx context.Context, digestID int64, maxAttempts int) (int, error)
	Secret(ctx context.Context, name string) ([]byte, error)
	// What replicas sharing one digest claim (see claims.go).
	ClaimPreparation(ctx context.Context, digestID int64, owner string, lease time.Duration) (bool, string, error)
	ClaimDeliveries(ctx context.Context, digestID int64, owner, afterKey string, maxAttempts, limit int, lease time.Duration) ([]syndicate.Delivery, error)
	RenewClaims(ctx context.Context, digestID int64, owner string, lease time.Duration) (int, error)
	ReleaseClaims(ctx context.Context, digestID int64, owner string) (int, error)
	ClaimedElsewhere(ctx context.Context, digestID int64, owner string, maxAttempts int) (int, error)
}

// MaxAttempts is how many temporary failures a reader may have, over all
// runs, before the delivery is recorded as failed.
const MaxAttempts = 10

// DigestOptions are the settings the digest job uses, taken from the
// config once (the command line builds them).
type DigestOptions struct {
	// MaxArticles caps the articles a digest shows in full; the rest
	// are listed in one line.
	MaxArticles int
	// Retries is how many more passes a run makes over the readers
	// that had a temporary failure, waiting RetryBackoff before the
	// first and twice as long before each next.
	Retries      int
	RetryBackoff time.Duration
	// Subscribers is the reader list's path (see package subscriber).
	Subscribers string
	// Networks are the networks threads go to: an article's state over
	// them (ClassifyAll) says whether it may be mailed.
	Networks []string
	Issue    IssueOptions
	// Pictures says where the articles' pictures are published
	// (email.media_base_url) and which folders hold their files.
	Pictures digest.Pictures
}

// Mailer sends messages: each job taken from jobs gets an outcome on
// outcomes, unless the send stops first (then the job keeps none and is
// sent by a later run). mail.Relay is the real one.
type Mailer interface {
	Send(ctx context.Context, jobs <-chan mail.Job, outcomes chan<- syndicate.Outcome) error
}

// DigestDeps are what the digest job works with.
type DigestDeps struct {
	Options  DigestOptions
	Ledger   DigestLedger
	Renderer *digest.Renderer
	Mailer   Mailer
	Log      *slog.Logger
	Now      func() time.Time
	// Progress, when set, is told of every outcome: done of total.
	Progress func(done, total int)
	// Settle leaves out articles changed more recently than this (the
	// daemon's articles_settle; 0 for a run by hand).
	Settle time.Duration
	// FlushEvery and FlushWait bound how many outcomes are written
	// together, and how long the first of them waits for the others
	// (16, 1 ms): after a crash at most two batches of outcomes, plus a
	// message in flight per connection, can be unrecorded.
	FlushEvery int
	FlushWait  time.Duration

	// Replicas sharing one state share the digest (see claims.go).

	// Slot names the schedule tick this run is for ("tick:" and its
	// time): every replica's tick finds the one digest of that slot. ""
	// (a run asked for by hand) makes a new digest when there are new
	// articles.
	Slot string
	// Owner is who this run claims readers as: the replica, unique among
	// those sharing the state ("local" when empty: the one process that
	// holds a SQLite state's lock, which may take its own claims back
	// after a restart).
	Owner string
	// Lease is how long a claim holds when not renewed (2 min): after a
	// replica dies, its claimed readers wait this long for another. The
	// holder renews its claims every third of it.
	Lease time.Duration
	// ClaimBatch is how many readers are claimed at once (100).
	ClaimBatch int
	// Poll is how often a run waiting for another replica (preparing the
	// reader list, or mailing its claimed readers) looks again (1 s).
	Poll time.Duration
}

// LocalOwner is the owner of the claims of a run on a SQLite state.
const LocalOwner = "local"

// Defaults of DigestDeps.
const (
	DefaultLease      = 2 * time.Minute
	DefaultClaimBatch = 100
	DefaultPoll       = time.Second
)

// DigestReport says what a run did: a line per digest it sent (an
// unfinished one first, then a new one), and the totals.
type DigestReport struct {
	Digests    []DigestRun
	Sent       int     // messages the relay took in this run, all digests
	Temporary  int     // 4xx replies in this run
	Failed     int     // readers newly recorded as failed in this run
	Skipped    []error // subscriber rows that were skipped
	NothingNew bool    // no unfinished digest and no new articles: nothing was sent
}

// DigestRun is what a run did with one digest.
type DigestRun struct {
	ID       int64
	Articles int
	// Corrections are the corrections and retractions it carries.
	Corrections int
	Readers     int // readers left to mail when the run took the digest up
	Sent        int
	Temporary   int
	Failed      int
	Pending     int  // readers left for a later run
	Resumed     bool // the digest was unfinished: this run continued it
}

// SendDigest sends the pending digest. An unfinished digest is finished
// first (it never grows new articles); then, if there are articles in no
// digest yet, a new digest is fixed — its articles and its reader list
// recorded before the first message goes out — and sent.
func SendDigest(ctx context.Context, d DigestDeps, articles []*syndicate.Article) (DigestReport, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.FlushEvery <= 0 {
		d.FlushEvery = 16
	}
	if d.FlushWait <= 0 {
		d.FlushWait = time.Millisecond
	}
	if d.Owner == "" {
		d.Owner = LocalOwner
	}
	if d.Lease <= 0 {
		d.Lease = DefaultLease
	}
	if d.ClaimBatch <= 0 {
		d.ClaimBatch = DefaultClaimBatch
	}
	if d.Poll <= 0 {
		d.Poll = DefaultPoll
	}
	var rep DigestReport
	secret, err := d.Ledger.Secret(ctx, SecretUnsubscribe)
	if err != nil {
		return rep, err
	}
	idSecret, err := d.Ledger.Secret(ctx, SecretMessageID)
	if err != nil {
		return rep, err
	}
	install := InstallID(idSecret)
	conflicts, lookedAgain := 0, false
	for round := 0; round < 2; round++ {
		rec, open, err := d.Ledger.OpenDigest(ctx)
		if err != nil {
			return rep, err
		}
		resumed := open
		if !open {
			var created, ok bool
			rec, created, ok, err = newDigest(ctx, d, articles)
			if errors.Is(err, syndicate.ErrChanged) && conflicts < 5 {
				// Another replica's digest took some of the articles
				// meanwhile: look again (it may be open, to share).
				d.Log.Info("another replica made a digest meanwhile: looking again", "err", err)
				conflicts++
				round--
				continue
			}
			if err == nil && !ok && !lookedAgain {
				// Nothing new: another replica may have made this tick's
				// digest of it since OpenDigest looked. Look once more, to
				// take a share of it.
				lookedAgain = true
				round--
				continue
			}
			if err != nil || !ok {
				rep.NothingNew = len(rep.Digests) == 0 && !ok
				return rep, err
			}
			if !created && rec.State == syndicate.DigestDone {
				d.Log.Info("the digest of this tick went out already (from another replica)", "digest", rec.ID, "slot", d.Slot)
				rep.NothingNew = len(rep.Digests) == 0
				return rep, nil
			}
			resumed = !created
		}
		one, skipped, err := sendFixed(ctx, d, rec, secret, install)
		one.Resumed = resumed
		rep.Digests = append(rep.Digests, one)
		rep.Sent += one.Sent
		rep.Temporary += one.Temporary
		rep.Failed += one.Failed
		rep.Skipped = append(rep.Skipped, skipped...)
		if err != nil || one.Pending > 0 {
			return rep, err
		}
	}
	return rep, nil
}

// newDigest fixes a digest of the articles in none yet, for the run's
// slot; ok is false when there are none. When the slot has its digest
// already (another replica's tick made it) that one is returned, created
// false.
func newDigest(ctx context.Context, d DigestDeps, articles []*syndicate.Article) (rec syndicate.DigestRecord, created, ok bool, err error) {
	done, err := d.Ledger.DigestedArticles(ctx)
	if err != nil {
		return rec, false, false, err
	}
	records, err := ReadRecords(ctx, d.Ledger, d.Options.Networks)
	if err != nil {
		return rec, false, false, err
	}
	notices, err := d.Ledger.PendingNotices(ctx, digest.MaxNotices)
	if err != nil {
		return rec, false, false, err
	}
	fresh := ForDigest(articles, records, done, d.Now(), d.Settle)
	dg, omitted := NextIssue(fresh, notices, d.Now(), d.Options.MaxArticles, d.Options.Pictures)
	if dg.Empty() {
		return rec, false, false, nil
	}
	rec, created, err = d.Ledger.CreateDigestFor(ctx, d.Slot, dg.Articles, omitted, dg.Notices)
	if err != nil {
		return rec, false, false, err
	}
	if created {
		d.Log.Info("new digest", "digest", rec.ID, "articles", len(dg.Articles), "omitted_beyond_max_articles", len(omitted), "corrections", len(dg.Notices), "slot", d.Slot)
	} else {
		d.Log.Info("the digest of this tick was made by another replica", "digest", rec.ID, "slot", d.Slot, "state", rec.State)
	}
	return rec, created, true, nil
}

// sendFixed prepares (if needed) and sends one recorded digest. However
// it returns — done, stopped by a signal, the relay down — the run says
// how many readers are left, counted afresh from the state.
func sendFixed(ctx context.Context, d DigestDeps, rec syndicate.DigestRecord, secret []byte, install string) (run DigestRun, skipped []error, err error) {
	run.ID = rec.ID
	defer func() {
		if n, cerr := d.Ledger.CountPending(context.WithoutCancel(ctx), rec.ID, MaxAttempts); cerr == nil {
			run.Pending = n
		}
	}()
	items, err := d.Ledger.DigestItems(ctx, rec.ID)
	if err != nil {
		return run, nil, err
	}
	notices, err := d.Ledger.DigestNotices(ctx, rec.ID)
	if err != nil {
		return run, nil, err
	}
	run.Articles, run.Corrections = len(items), len(notices)
	if rec.State == syndicate.DigestPreparing {
		if skipped, err = prepare(ctx, d, rec.ID); err != nil {
			return run, skipped, err
		}
	}
	as, err := Assemble(d.Options.Issue, d.Renderer, rec.ID, install, rec.CreatedAt, digest.Digest{Articles: items, Omitted: rec.Omitted, Notices: notices}, secret)
	if err != nil {
		return run, skipped, err
	}
	// Claims this owner holds are a former run's: one that died (on
	// SQLite the owner outlives a restart; a replica's is new each
	// start). They are free again.
	if _, err := d.Ledger.ReleaseClaims(ctx, rec.ID, d.Owner); err != nil {
		return run, skipped, err
	}

	total, err := d.Ledger.CountPending(ctx, rec.ID, MaxAttempts)
	if err != nil {
		return run, skipped, err
	}
	run.Readers = total
	retries := d.Options.Retries
	wait := d.Options.RetryBackoff
	progress := 0
	for pass := 0; ; pass++ {
		counts, err := sendPass(ctx, d, rec.ID, as, func() {
			progress++
			if d.Progress != nil {
				d.Progress(progress, total)
			}
		})
		run.Sent += counts.sent
		run.Temporary += counts.temp
		run.Failed += counts.failed
		if err != nil {
			return run, skipped, err
		}
		if counts.temp > 0 && retries > 0 {
			retries--
			d.Log.Info("retrying temporary failures", "digest", rec.ID, "wait", wait.String())
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return run, skipped, ErrStopped
			}
			wait *= 2
			continue
		}
		// Readers other replicas hold are theirs until mailed, or until
		// their lease runs out (a replica that died): wait, then take
		// what is left.
		others, err := d.Ledger.ClaimedElsewhere(ctx, rec.ID, d.Owner, MaxAttempts)
		if err != nil {
			return run, skipped, err
		}
		if others == 0 {
			break
		}
		d.Log.Info("readers are being mailed by other replicas: waiting for them, or for their lease to run out",
			"digest", rec.ID, "readers", others, "lease", d.Lease.String())
		if err := waitForOthers(ctx, d, rec.ID); err != nil {
			return run, skipped, err
		}
	}
	gaveUp, err := d.Ledger.GiveUp(ctx, rec.ID, MaxAttempts)
	if err != nil {
		return run, skipped, err
	}
	run.Failed += gaveUp
	left, err := d.Ledger.CountPending(ctx, rec.ID, MaxAttempts)
	if err != nil {
		return run, skipped, err
	}
	if left == 0 {
		if err := d.Ledger.FinishDigest(ctx, rec.ID); err != nil {
			return run, skipped, err
		}
		d.Log.Info("digest done", "digest", rec.ID, "sent", run.Sent, "failed", run.Failed)
	}
	return run, skipped, nil
}

// errLostPreparation stops a preparation another replica took over (this
// one stalled past its lease).
var errLostPreparation = errors.New("another replica took over preparing the digest's reader list")

// prepare records the digest's reader list whole before anything is
// sent, then marks it sending. One replica prepares at a time, under a
// lease it renews after every batch of readers; the others wait, and
// take over when the lease runs out. An interrupted preparation starts
// over.
func prepare(ctx context.Context, d DigestDeps, id int64) ([]error, error) {
	waiting := false
	for {
		claimed, state, err := d.Ledger.ClaimPreparation(ctx, id, d.Owner, d.Lease)
		switch {
		case err != nil:
			return nil, err
		case claimed:
		case state == "":
			return nil, fmt.Errorf("digest %d is not in the state", id)
		case state != syndicate.DigestPreparing:
			return nil, nil // another replica prepared it meanwhile
		default:
			if !waiting {
				d.Log.Info("another replica is preparing the digest's reader list: waiting for it", "digest", id)
				waiting = true
			}
			select {
			case <-time.After(d.Poll):
			case <-ctx.Done():
				return nil, ErrStopped
			}
			continue
		}
		break
	}
	renew := func() error {
		claimed, _, err := d.Ledger.ClaimPreparation(ctx, id, d.Owner, d.Lease)
		if err == nil && !claimed {
			err = errLostPreparation
		}
		return err
	}
	if err := d.Ledger.ResetReaders(ctx, id); err != nil {
		return nil, err
	}
	n, skipped, err := addReaders(ctx, d, id, renew)
	if err != nil {
		return skipped, err
	}
	if err := renew(); err != nil {
		return skipped, err
	}
	if err := d.Ledger.StartDigest(ctx, id); err != nil {
		return skipped, err
	}
	d.Log.Info("digest readers fixed", "digest", id, "readers", n, "skipped_rows", len(skipped))
	return skipped, nil
}

// addReaders streams the subscriber list into the digest in batches,
// calling renew after each. A list that cannot be read on (a
// subscriber.ListError) stops the preparation: the digest stays
// unprepared and nobody is mailed until the list is fixed, rather than
// part of it.
func addReaders(ctx context.Context, d DigestDeps, id int64, renew func() error) (int, []error, error) {
	list, err := subscriber.Open(d.Options.Subscribers)
	if err != nil {
		return 0, nil, err
	}
	defer list.Close()
	var skipped []error
	added := 0
	batch := make([]syndicate.Reader, 0, 1000)
	flush := func() error {
		n, err := d.Ledger.AddReaders(ctx, id, batch)
		added += n
		batch = batch[:0]
		if err != nil {
			return err
		}
		return renew()
	}
	for {
		r, err := list.Next()
		if err == io.EOF {
			break
		}
		var le *subscriber.ListError
		if errors.As(err, &le) {
			return added, skipped, fmt.Errorf("email.subscribers: %w", err)
		}
		if err != nil {
			if len(skipped) < subscriber.MaxSkipped {
				skipped = append(skipped, err)
			}
			continue
		}
		batch = append(batch, r)
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return added, skipped, err
			}
		}
	}
	return added, skipped, flush()
}

type passCounts struct{ sent, temp, failed int }

// sendPass sends every reader without a final outcome once. Outcomes are
// written in batches (every FlushEvery outcomes or FlushWait), and all of
// them before it returns.
func sendPass(ctx context.Context, d DigestDeps, id int64, as Assembly, tick func()) (passCounts, error) {
	var counts passCounts
	sendCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A few rendered messages wait for a free connection.
	jobs := make(chan mail.Job, 8)
	// Outcomes wait in this channel unrecorded: it holds one batch.
	outcomes := make(chan syndicate.Outcome, d.FlushEvery)

	produced := make(chan error, 1)
	go func() {
		defer close(jobs)
		produced <- produce(sendCtx, d, id, as, jobs)
	}()

	written := make(chan error, 1)
	go func() {
		written <- writeOutcomes(context.WithoutCancel(ctx), d, id, outcomes, &counts, tick, cancel)
	}()

	// The claims of the readers in hand are renewed while the pass runs.
	renewCtx, stopRenewing := context.WithCancel(sendCtx)
	renewed := make(chan error, 1)
	go func() { renewed <- renewClaims(renewCtx, d, id, cancel) }()

	sendErr := d.Mailer.Send(sendCtx, jobs, outcomes)
	cancel()
	for range jobs { // let the producer finish
	}
	close(outcomes)
	writeErr := <-written
	prodErr := <-produced
	stopRenewing()
	renewErr := <-renewed
	// Readers claimed but not mailed (a stop, the relay down) go back at
	// once, rather than when the lease runs out.
	if _, err := d.Ledger.ReleaseClaims(context.WithoutCancel(ctx), id, d.Owner); err != nil && writeErr == nil {
		writeErr = err
	}
	switch {
	case writeErr != nil:
		return counts, fmt.Errorf("recording outcomes: %w", writeErr)
	case renewErr != nil:
		return counts, fmt.Errorf("renewing the claims on readers: %w", renewErr)
	case sendErr != nil && !errors.Is(sendErr, context.Canceled):
		return counts, sendErr
	case ctx.Err() != nil:
		return counts, ErrStopped
	case prodErr != nil && !errors.Is(prodErr, context.Canceled):
		return counts, prodErr
	}
	return counts, nil
}

// produce claims the pending readers in batches, in key order, and renders
// and builds a message for each. Readers other replicas hold are left to
// them. At the end it goes round again for readers never tried that were
// held elsewhere when it passed (a replica that died, its lease since run
// out), but not for those this pass tried (they wait for the next pass);
// the pass ends when a round from the start finds nothing.
func produce(ctx context.Context, d DigestDeps, id int64, as Assembly, jobs chan<- mail.Job) error {
	after, attempts := "", MaxAttempts
	for {
		page, err := d.Ledger.ClaimDeliveries(ctx, id, d.Owner, after, attempts, d.ClaimBatch, d.Lease)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			if after == "" {
				return nil
			}
			after, attempts = "", 0
			continue
		}
		for _, del := range page {
			job, _, err := as.Job(del.Key, del.Reader)
			if err != nil {
				return err
			}
			select {
			case jobs <- job:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		after = page[len(page)-1].Key
	}
}

// renewClaims renews the run's claims every third of the lease until ctx
// ends. When it cannot, the send is stopped: a claim that runs out may be
// taken by another replica, which would mail its reader again.
func renewClaims(ctx context.Context, d DigestDeps, id int64, stop func()) error {
	t := time.NewTicker(d.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := d.Ledger.RenewClaims(ctx, id, d.Owner, d.Lease); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			stop()
			return err
		}
	}
}

// waitForOthers waits until no other replica holds a reader of the
// digest: they were mailed, or their lease ran out.
func waitForOthers(ctx context.Context, d DigestDeps, id int64) error {
	for {
		select {
		case <-time.After(d.Poll):
		case <-ctx.Done():
			return ErrStopped
		}
		n, err := d.Ledger.ClaimedElsewhere(ctx, id, d.Owner, MaxAttempts)
		if err != nil || n == 0 {
			return err
		}
	}
}

// writeOutcomes records outcomes by group commit: it waits for one, takes
// whatever else arrives within FlushWait (1 ms; up to FlushEvery) and
// writes them in one transaction, so the state costs a send little. After
// a crash only the messages in flight (one per connection), the outcomes
// waiting in the channel and the batch being written (FlushEvery each)
// can be unrecorded, and only they can reach a reader twice. When the state cannot be written the send
// is stopped: a message is never sent without its outcome being recordable.
func writeOutcomes(ctx context.Context, d DigestDeps, id int64, outcomes <-chan syndicate.Outcome, counts *passCounts, tick func(), stop func()) error {
	batch := make([]syndicate.Outcome, 0, d.FlushEvery)
	var failed error
	count := func(o syndicate.Outcome) {
		switch o.State {
		case syndicate.DeliverySent:
			counts.sent++
		case syndicate.DeliveryTemp:
			counts.temp++
			d.Log.Warn("temporary failure; retried later", "reader", o.Key, "reply", o.Reply)
		case syndicate.DeliveryFailed:
			counts.failed++
			d.Log.Error("permanent failure", "reader", o.Key, "reply", o.Reply)
		}
		tick()
	}
	linger := time.NewTimer(time.Hour)
	defer linger.Stop()
	for o := range outcomes {
		batch = append(batch[:0], o)
		count(o)
		linger.Reset(d.FlushWait)
	collect:
		for len(batch) < d.FlushEvery {
			select {
			case more, ok := <-outcomes:
				if !ok {
					break collect
				}
				batch = append(batch, more)
				count(more)
			case <-linger.C:
				break collect
			}
		}
		if failed != nil {
			continue
		}
		if err := d.Ledger.RecordOutcomes(ctx, id, batch); err != nil {
			failed = err
			stop()
		}
	}
	return failed
}
