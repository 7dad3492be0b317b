// Package job holds the two jobs — post the pending threads, send the
// pending digest — as plain functions over the store and the outlets. The
// command line and the daemon both call them, so the scheduler never
// reaches up into the CLI. Each job does all the pending work it finds
// (bounded by the per-run caps): a missed tick is caught up by the next.
package job

import (
	"context"
	"sort"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// State is where an article stands for posting. It is decided in one
// place, Classify (on one network) and ClassifyAll (over the configured
// networks, by Combine), for the post job, the dry runs, "status", the
// digest and --mark-posted alike.
type State string

// The states of an article.
const (
	Pending  State = "pending"  // due: posted by the next run
	Posting  State = "posting"  // its thread is partly posted: resumed first
	Posted   State = "posted"   // its thread is complete
	Adopted  State = "adopted"  // recorded as posted by --mark-posted
	Failed   State = "failed"   // refused by the server; waits for --retry or an edit
	Draft    State = "draft"    // never posted or mailed
	Waiting  State = "waiting"  // its date is in the future (an embargo)
	Settling State = "settling" // changed moments ago; the daemon waits for the next tick
	Stopped  State = "stopped"  // its thread is unfinished, and it became a draft: nothing more is posted
)

// Classify decides an article's state from the ledger's record of it
// (known is false when there is none), the time, and how long a changed
// file must rest before the daemon takes it (0 for commands run by hand).
func Classify(a *syndicate.Article, r syndicate.ArticleRecord, known bool, now time.Time, settle time.Duration) State {
	switch {
	case known && r.State == syndicate.StatePosting:
		if a.Draft {
			return Stopped
		}
		return Posting // never leave a thread half-posted
	case known && r.State == syndicate.StatePosted:
		return Posted
	case known && r.State == syndicate.StateAdopted:
		return Adopted
	case a.Draft:
		return Draft
	case known && r.State == syndicate.StateFailed && r.FailedHash == a.Hash:
		return Failed
	case !a.Date.IsZero() && a.Date.After(now):
		return Waiting
	case settle > 0 && !a.FromFeed() && !a.ModTime.IsZero() && now.Sub(a.ModTime) < settle && a.ModTime.Sub(now) < settle:
		// (A modification time far in the future — a wrong clock, a
		// touched file — does not hold the article back for ever. A
		// feed's item is never half written: it does not settle.)
		return Settling
	}
	return Pending
}

// Mailable reports whether an article in this state may go into a
// digest: anything but a draft, an embargoed or a settling one.
func (s State) Mailable() bool { return s != Draft && s != Waiting && s != Settling && s != Stopped }

// Done reports whether the state leaves nothing to post on its network.
func (s State) Done() bool { return s == Posted || s == Adopted }

// combineOrder ranks the states for Combine: the first a network is in
// is the article's.
var combineOrder = []State{Posting, Stopped, Failed, Pending, Posted, Adopted, Settling, Waiting, Draft}

// Combine is an article's state over several networks, from its state on
// each: work in hand first (posting, stopped, failed, pending on any
// network), then posted (on some network, and nothing left on any), then
// adopted; an article that went out somewhere is posted even if it has
// since become a draft or embargoed (as on one network, where Posted wins
// over Draft), and one that went out nowhere is settling, waiting or a
// draft. So an article is "posted" once every configured network is
// done with it, and the digest (State.Mailable) takes it as it would on
// one network. No states at all: Pending.
func Combine(states ...State) State {
	best := len(combineOrder)
	for _, s := range states {
		for i, o := range combineOrder {
			if s == o && i < best {
				best = i
			}
		}
	}
	if best == len(combineOrder) {
		return Pending
	}
	return combineOrder[best]
}

// Records are the ledger's records of the configured networks: by
// network, then by article ID. A network with nothing recorded has an
// empty map.
type Records map[string]map[string]syndicate.ArticleRecord

// RecordReader is the ledger as ReadRecords reads it.
type RecordReader interface {
	ArticleRecords(ctx context.Context, network string) (map[string]syndicate.ArticleRecord, error)
}

// ReadRecords reads the records of each network.
func ReadRecords(ctx context.Context, l RecordReader, networks []string) (Records, error) {
	out := Records{}
	for _, n := range networks {
		rs, err := l.ArticleRecords(ctx, n)
		if err != nil {
			return nil, err
		}
		out[n] = rs
	}
	return out, nil
}

// EmptyRecords are the records of networks with nothing recorded (no
// state yet).
func EmptyRecords(networks []string) Records {
	out := Records{}
	for _, n := range networks {
		out[n] = map[string]syndicate.ArticleRecord{}
	}
	return out
}

// ClassifyAll is an article's state over every network of recs: each
// network's Classify, combined by Combine. With no network it is the
// article's state as if nothing were recorded of it.
func ClassifyAll(a *syndicate.Article, recs Records, now time.Time, settle time.Duration) State {
	if len(recs) == 0 {
		return Classify(a, syndicate.ArticleRecord{}, false, now, settle)
	}
	states := make([]State, 0, len(recs))
	for _, rs := range recs {
		r, known := rs[a.ID]
		states = append(states, Classify(a, r, known, now, settle))
	}
	return Combine(states...)
}

// PostPlan sorts the articles for the post job.
type PostPlan struct {
	// Due are the articles to post now: unfinished threads first, then
	// the rest oldest first.
	Due []*syndicate.Article
	// Waiting are articles whose date is still in the future (embargo).
	Waiting []*syndicate.Article
	// Settling are articles changed too recently for the daemon.
	Settling []*syndicate.Article
	// Failed are failed articles that were not edited since.
	Failed []*syndicate.Article
	// Stopped are unfinished threads whose article became a draft.
	Stopped []*syndicate.Article
}

// SelectPosts sorts the articles by Classify. records is the ledger (nil
// or empty when there is none yet).
func SelectPosts(articles []*syndicate.Article, records map[string]syndicate.ArticleRecord, now time.Time, settle time.Duration) PostPlan {
	var p PostPlan
	var resume []*syndicate.Article
	for _, a := range articles {
		r, known := records[a.ID]
		switch Classify(a, r, known, now, settle) {
		case Posting:
			resume = append(resume, a)
		case Pending:
			p.Due = append(p.Due, a)
		case Waiting:
			p.Waiting = append(p.Waiting, a)
		case Settling:
			p.Settling = append(p.Settling, a)
		case Failed:
			p.Failed = append(p.Failed, a)
		case Stopped:
			p.Stopped = append(p.Stopped, a)
		}
	}
	oldestFirst(resume)
	oldestFirst(p.Due)
	oldestFirst(p.Waiting)
	p.Due = append(resume, p.Due...)
	return p
}

// ForDigest returns the articles a new digest takes: those in no digest
// yet (done) that may be mailed now, by their state over the networks.
func ForDigest(articles []*syndicate.Article, recs Records, done map[string]bool, now time.Time, settle time.Duration) []*syndicate.Article {
	var out []*syndicate.Article
	for _, a := range articles {
		if done[a.ID] {
			continue
		}
		if ClassifyAll(a, recs, now, settle).Mailable() {
			out = append(out, a)
		}
	}
	return out
}

func oldestFirst(list []*syndicate.Article) {
	sort.SliceStable(list, func(i, j int) bool {
		ti, tj := list[i].When(), list[j].When()
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return list[i].ID < list[j].ID
	})
}
