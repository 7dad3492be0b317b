// Package store keeps the bot's state: the thread planned and the post
// made for every article, network and post index, every digest with its fixed
// articles and readers and each reader's outcome, unsubscribes, the
// secrets the unsubscribe tokens and Message-IDs are made with, and what
// the last live run learned of a server.
//
// Store is the state as the jobs and the commands use it; DB is its SQL
// implementation, on an embedded SQLite database (modernc.org/sqlite, no
// cgo; Open, OpenReadOnly) or on PostgreSQL for several replicas (pgx's
// database/sql driver; OpenPostgres, OpenPostgresReadOnly, postgres.go),
// one code for both. The code is split by what it keeps, as miniflux
// splits its storage: articles.go (articles and their posts), digests.go
// (digests and their deliveries), claims.go (what replicas sharing a
// digest claim, under a lease), meta.go (secrets and servers),
// unsubscribes.go, with the schema's versioned steps in migrations.go;
// leader.go is the PostgreSQL advisory lock that makes one replica the
// poster. The package storetest is the contract suite both backends pass.
//
// Every "claim work, do it, record it" step is one explicit transaction.
// The SQL is portable, so that PostgreSQL runs the same query text: no
// SQLite-only syntax in the logic (upserts are the standard INSERT … ON
// CONFLICT), state names are parameters rather than literals, and queries
// are written with ? placeholders that rebind.go numbers as $1, $2, … for
// pgx. What the two do differently is the dialect's (postgres.go): a
// claim's FOR UPDATE SKIP LOCKED, and migrations taking turns.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// Store is the state. It is the union of what the post job needs
// (syndicate.PostLedger), what the digest job needs (job.DigestLedger)
// and what the commands use besides. A store opened read-only (a dry run)
// answers every question and refuses every change with ErrReadOnly.
type Store interface {
	// Articles and their threads (articles.go). Each article has a
	// thread, and a record, per network (syndicate.NetworkMastodon,
	// NetworkBluesky): every method names the network it is about.

	// ArticleRecords returns what is recorded of every article on a
	// network, by ID.
	ArticleRecords(ctx context.Context, network string) (map[string]syndicate.ArticleRecord, error)
	// PlanThread records the thread an article will be posted as on a
	// network, before its first post goes out, and marks the article
	// posting there. Posts already made or in doubt keep their recorded
	// text, record key and createdAt; the rest are replaced by the new
	// plan.
	PlanThread(ctx context.Context, network, articleID, hash string, posts []syndicate.PlannedPost) error
	// PlannedPosts returns an article's planned posts on a network in
	// order, with what is known of each.
	PlannedPosts(ctx context.Context, network, articleID string) ([]syndicate.PlannedPost, error)
	// MarkAttempt records that a post is about to be sent: from then until
	// RecordPost its outcome is unknown if the process dies. The first
	// attempt's time is kept.
	MarkAttempt(ctx context.Context, network, articleID string, idx int) error
	// RecordPost records the post a planned one became (ID, URL, CID);
	// the head post's URL is the article's on that network.
	RecordPost(ctx context.Context, network, articleID string, idx int, st syndicate.Status) error
	// PlanEdit, PlannedChanges, ApplyChange, CorrectInstead and
	// UpdateHash change a thread already made (edits.go; see
	// syndicate.PostLedger).
	PlanEdit(ctx context.Context, network, articleID string, plan syndicate.EditPlan) error
	PlannedChanges(ctx context.Context, network, articleID string) ([]syndicate.PlannedChange, error)
	ApplyChange(ctx context.Context, network, articleID string, c syndicate.PlannedChange) error
	CorrectInstead(ctx context.Context, network, articleID string, idx int, posts []syndicate.PlannedPost) error
	UpdateHash(ctx context.Context, network, articleID, hash string) error
	// FinishArticle marks an article posted on a network.
	FinishArticle(ctx context.Context, network, articleID string) error
	// FailArticle marks an article failed on a network with the server's
	// reason, and its unmade posts there as not in doubt; it waits for
	// RetryArticle or an edit of its file (a new hash).
	FailArticle(ctx context.Context, network, articleID, hash, reason string) error
	// RetryArticle makes a failed article posting again on a network; it
	// reports false when the article is not failed there.
	RetryArticle(ctx context.Context, network, articleID string) (bool, error)
	// AdoptArticles records articles as posted on each of networks without
	// posting them and, when mail is true, as mailed without mailing them
	// (adopting an existing archive), in one transaction. For posting,
	// articles with a record on a network are left alone there; for the
	// digest, articles in a digest or already counted as mailed. It
	// returns how many were adopted for posting on each network and how
	// many for the digest.
	AdoptArticles(ctx context.Context, articles []*syndicate.Article, networks []string, mail bool) (posts map[string]int, mailed int, err error)

	// Feeds and their items (feeds.go).

	// FeedStates returns what is kept of every feed, by name.
	FeedStates(ctx context.Context) (map[string]syndicate.FeedState, error)
	// FeedItems returns every feed item kept, as the article it became,
	// with ModTime the time it was first seen.
	FeedItems(ctx context.Context) ([]*syndicate.Article, error)
	// RecordFetch keeps, in one transaction, a fetch of a feed: its
	// state, and its items (a new one first seen now; a known one keeps
	// its first-seen time and is replaced when its hash changed). The
	// items in adopt are recorded as posted and mailed, as
	// AdoptArticles does, in the same transaction: a crash can never
	// leave a newly added feed's items recorded but not adopted.
	RecordFetch(ctx context.Context, name string, st syndicate.FeedState, items, adopt []*syndicate.Article) error

	// Digests and their deliveries (digests.go).

	// DigestedArticles returns the IDs of the articles in any digest, sent
	// or being sent, or counted as mailed (adopted, or beyond a digest's
	// email.max_articles): they never go into a new one.
	DigestedArticles(ctx context.Context) (map[string]bool, error)
	// OpenDigest returns the oldest digest that is not done, if any.
	OpenDigest(ctx context.Context) (syndicate.DigestRecord, bool, error)
	// CreateDigest fixes a new digest, preparing: items are mailed in
	// full, omitted (article IDs beyond email.max_articles) are listed in
	// one line and count as mailed too. It returns the digest's ID.
	CreateDigest(ctx context.Context, items []syndicate.DigestItem, omitted []string) (int64, error)
	// DigestItems returns a digest's fixed articles in order.
	DigestItems(ctx context.Context, digestID int64) ([]syndicate.DigestItem, error)
	// PendingNotices returns up to limit corrections and retractions
	// (recorded by PlanEdit) that no digest carries yet, oldest first.
	PendingNotices(ctx context.Context, limit int) ([]syndicate.Notice, error)
	// DigestNotices returns the corrections and retractions a digest
	// carries, oldest first.
	DigestNotices(ctx context.Context, digestID int64) ([]syndicate.Notice, error)
	// ResetReaders drops the readers of a digest still being prepared (an
	// interrupted preparation starts over).
	ResetReaders(ctx context.Context, digestID int64) error
	// AddReaders adds readers to a digest being prepared, pending,
	// skipping the unsubscribed and addresses already in it; it returns
	// how many it added.
	AddReaders(ctx context.Context, digestID int64, readers []syndicate.Reader) (int, error)
	// StartDigest marks a prepared digest sending.
	StartDigest(ctx context.Context, digestID int64) error
	// FinishDigest marks a digest done: every reader has an outcome.
	FinishDigest(ctx context.Context, digestID int64) error
	// PendingDeliveries returns up to limit readers of a digest, in
	// EmailKey order after afterKey, with no final outcome (pending, or
	// temp with fewer than maxAttempts attempts) and not unsubscribed.
	PendingDeliveries(ctx context.Context, digestID int64, afterKey string, maxAttempts, limit int) ([]syndicate.Delivery, error)
	// CountPending counts the readers PendingDeliveries would list.
	CountPending(ctx context.Context, digestID int64, maxAttempts int) (int, error)
	// RecordOutcomes records a batch of outcomes in one transaction, each
	// counting one attempt.
	RecordOutcomes(ctx context.Context, digestID int64, outcomes []syndicate.Outcome) error
	// GiveUp records as failed the readers whose temporary failures
	// reached maxAttempts; it returns how many.
	GiveUp(ctx context.Context, digestID int64, maxAttempts int) (int, error)
	// RetryFailed makes a digest's failed readers pending again with no
	// attempts, and the digest sending; it returns how many.
	RetryFailed(ctx context.Context, digestID int64) (int, error)
	// LastDigest returns the newest digest, if any.
	LastDigest(ctx context.Context) (syndicate.DigestRecord, bool, error)
	// Digests returns up to limit digests, newest first, with their
	// counts; a reader who unsubscribed before being mailed is not
	// pending.
	Digests(ctx context.Context, limit int) ([]syndicate.DigestRecord, error)

	// Replicas sharing one state and one digest (claims.go).

	// CreateDigestFor fixes the digest of a schedule slot, as
	// CreateDigest does, unless the slot has one already: then it returns
	// that one, created false. An empty slot always makes a new digest.
	// When an article went into another digest meanwhile it writes
	// nothing and returns syndicate.ErrChanged.
	// notices are the corrections and retractions it carries (from
	// PendingNotices), marked carried in the same transaction; one that
	// another digest carried meanwhile is syndicate.ErrChanged too.
	CreateDigestFor(ctx context.Context, slot string, items []syndicate.DigestItem, omitted []string, notices []syndicate.Notice) (rec syndicate.DigestRecord, created bool, err error)
	// ClaimPreparation gives owner the preparation of a digest's reader
	// list for lease unless another owner holds it (calling again
	// renews); it returns whether owner holds it and the digest's state.
	ClaimPreparation(ctx context.Context, digestID int64, owner string, lease time.Duration) (claimed bool, state string, err error)
	// ClaimDeliveries claims for owner, for lease, up to limit readers as
	// PendingDeliveries lists them (maxAttempts 0: only those never
	// tried), leaving out those held under a lease not run out; replicas
	// claiming at once get different readers.
	ClaimDeliveries(ctx context.Context, digestID int64, owner, afterKey string, maxAttempts, limit int, lease time.Duration) ([]syndicate.Delivery, error)
	// RenewClaims extends owner's claims without an outcome to lease from
	// now; it returns how many.
	RenewClaims(ctx context.Context, digestID int64, owner string, lease time.Duration) (int, error)
	// ReleaseClaims gives back owner's claims without an outcome; it
	// returns how many.
	ReleaseClaims(ctx context.Context, digestID int64, owner string) (int, error)
	// ClaimedElsewhere counts the readers with no final outcome that
	// another owner holds under a lease not run out.
	ClaimedElsewhere(ctx context.Context, digestID int64, owner string, maxAttempts int) (int, error)
	// Senders counts a digest's readers mailed, by owner.
	Senders(ctx context.Context, digestID int64) (map[string]int, error)

	// Secrets and servers (meta.go).

	// Secret returns the named secret, making 32 random bytes on first
	// use; the first one made is kept. A read-only store returns nil
	// when there is none yet.
	Secret(ctx context.Context, name string) ([]byte, error)
	// ServerInfo returns what the last live run learned of a server.
	ServerInfo(ctx context.Context, server string) (syndicate.ServerInfo, bool, error)
	// RememberServer keeps what a live run learned of a server.
	RememberServer(ctx context.Context, server string, info syndicate.ServerInfo) error

	// Unsubscribes (unsubscribes.go).

	// Unsubscribe records that an address wants no more mail.
	Unsubscribe(ctx context.Context, email string) error
	// Unsubscribed returns every address that asked for no more mail, by
	// syndicate.EmailKey.
	Unsubscribed(ctx context.Context) (map[string]bool, error)

	// Ping reports whether the state is reachable.
	Ping(ctx context.Context) error
	// Close closes the state.
	Close() error
}

// Options are the settings of a store.
type Options struct {
	// Now is the clock the store stamps its records with (default
	// time.Now). The time a post was first attempted is compared with the
	// server's clock when its outcome is in doubt, so a live run wants
	// the wall clock.
	Now func() time.Time
}

func (o Options) now() func() time.Time {
	if o.Now == nil {
		return time.Now
	}
	return o.Now
}

var (
	// ErrNoState is returned by OpenReadOnly when no state exists yet.
	ErrNoState = errors.New("no state yet")
	// ErrReadOnly is returned for a change to a store opened read-only.
	ErrReadOnly = errors.New("state opened read-only (dry run)")
	// ErrOutdated is returned by OpenReadOnly for a state whose schema is
	// older than this program's: only a live run may migrate it.
	ErrOutdated = errors.New("a live run (post, digest, run or serve) upgrades it; a dry run, check or status cannot")
)
