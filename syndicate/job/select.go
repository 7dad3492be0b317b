// Package job holds the two jobs — post the pending threads, send the
// pending digest — as plain functions over the store and the outlets. The
// command line and the daemon both call them, so the scheduler never
// reaches up into the CLI. Each job does all the pending work it finds
// (bounded by the per-run caps): a missed tick is caught up by the next.
package job

import (
	"context"
	"fmt"
	"sort"
	"strings"
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
	// Changed is a thread made whose article changed since (or whose
	// change is planned and partly applied): the next run edits it in
	// place, appends, deletes and corrects (see Changes).
	Changed State = "changed"
	// Retracting is a thread made whose article was retracted (or, under
	// on_delete: delete, whose file is gone): the next run deletes it.
	Retracting State = "retracting"
	// Retracted is an article whose thread was deleted, or that was
	// retracted before it went out: it is never posted again.
	Retracted State = "retracted"
)

// hasThread reports whether the record holds a thread made, in part at
// least, on its network.
func hasThread(r syndicate.ArticleRecord) bool {
	switch r.State {
	case syndicate.StatePosting, syndicate.StatePosted, syndicate.StateEditing, syndicate.StateRetracting:
		return true
	case syndicate.StateFailed:
		return r.PostsDone > 0
	}
	return false
}

// Classify decides an article's state from the ledger's record of it
// (known is false when there is none), the time, and how long a changed
// file must rest before the daemon takes it (0 for commands run by hand).
func Classify(a *syndicate.Article, r syndicate.ArticleRecord, known bool, now time.Time, settle time.Duration) State {
	switch {
	case known && r.State == syndicate.StateRetracted:
		return Retracted // never posted again
	case known && r.State == syndicate.StateRetracting:
		return Retracting // never leave a thread half-deleted
	case a.Retracted:
		if known && hasThread(r) {
			return Retracting // a half-posted thread too
		}
		return Retracted
	case known && r.State == syndicate.StateEditing:
		return Changed // never leave an edit half-applied
	case known && r.State == syndicate.StatePosting:
		if a.Draft {
			return Stopped
		}
		return Posting // never leave a thread half-posted
	case known && r.State == syndicate.StatePosted:
		if a.Hash == r.Hash || a.Draft {
			return Posted
		}
		if settling(a, now, settle) {
			return Settling // an edit waits for the file to rest, as a new article does
		}
		return Changed
	case known && r.State == syndicate.StateAdopted:
		return Adopted
	case a.Draft:
		return Draft
	case known && r.State == syndicate.StateFailed && r.FailedHash == a.Hash:
		return Failed
	case !a.Date.IsZero() && a.Date.After(now):
		return Waiting
	case settling(a, now, settle):
		return Settling
	case known && r.State == syndicate.StateFailed && r.PostsDone > 0:
		return Changed // failed, part made, and edited since: the edit continues it
	}
	return Pending
}

// settling reports a file changed less than settle ago. (A modification
// time far in the future — a wrong clock, a touched file — does not hold
// the article back for ever. A feed's item is never half written: it does
// not settle.)
func settling(a *syndicate.Article, now time.Time, settle time.Duration) bool {
	return settle > 0 && !a.FromFeed() && !a.ModTime.IsZero() && now.Sub(a.ModTime) < settle && a.ModTime.Sub(now) < settle
}

// FolderSettling reports whether a file came or went in the folder (its
// modification time: changed) less than settle ago, as settling does for
// a file: then no file is taken for gone yet (see Vanished). A time far
// in the future does not hold the deletions back for ever.
func FolderSettling(changed, now time.Time, settle time.Duration) bool {
	return settle > 0 && !changed.IsZero() && now.Sub(changed) < settle && changed.Sub(now) < settle
}

// Mailable reports whether an article in this state may go into a
// digest: anything but a draft, an embargoed or a settling one.
func (s State) Mailable() bool {
	return s != Draft && s != Waiting && s != Settling && s != Stopped && s != Retracting && s != Retracted
}

// Done reports whether the state leaves nothing to post on its network.
func (s State) Done() bool { return s == Posted || s == Adopted || s == Retracted }

// combineOrder ranks the states for Combine: the first a network is in
// is the article's. Work in hand comes first (a retraction before an
// edit, an edit before anything new).
var combineOrder = []State{Posting, Retracting, Changed, Stopped, Failed, Pending, Posted, Adopted, Retracted, Settling, Waiting, Draft}

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
	// States are the due articles' states (Posting, Retracting, Changed,
	// Pending), by ID.
	States map[string]State
}

// SelectPosts sorts the articles by Classify. records is the ledger (nil
// or empty when there is none yet).
func SelectPosts(articles []*syndicate.Article, records map[string]syndicate.ArticleRecord, now time.Time, settle time.Duration) PostPlan {
	p := PostPlan{States: map[string]State{}}
	var resume []*syndicate.Article
	for _, a := range articles {
		r, known := records[a.ID]
		st := Classify(a, r, known, now, settle)
		switch st {
		case Posting, Retracting, Changed:
			p.States[a.ID] = st
			resume = append(resume, a)
		case Pending:
			p.States[a.ID] = st
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
	// Retractions first, then unfinished threads and edits, oldest first.
	oldestFirst(resume)
	sort.SliceStable(resume, func(i, j int) bool {
		return p.States[resume[i].ID] == Retracting && p.States[resume[j].ID] != Retracting
	})
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

// MaxVanished is how many of the folder's threads may lose their files at
// once and be deleted (on_delete: delete), or a tenth of them when that
// is more; past it, none is.
const MaxVanished = 3

// Vanished returns, from one network's records, the folder's articles
// whose thread is made there and whose file is gone — files are the IDs
// of every file in the folder (read or not: a file with a problem is
// still there) — as retracted articles for Classify (their thread is
// deleted). A feed's item is never gone: the state keeps it. It refuses,
// returning none and saying why, when the folder has no file at all (an
// emptied or unmounted folder) or more files vanished at once than
// MaxVanished or a tenth of the folder's threads, whichever is more.
// While settling (the folder's list of files changed moments ago: the
// daemon's articles_settle) only the deletions under way go on; the files
// gone are taken for gone once the folder is quiet.
func Vanished(articles []*syndicate.Article, files []string, records map[string]syndicate.ArticleRecord, settling bool) ([]*syndicate.Article, string) {
	present := map[string]bool{}
	for _, id := range files {
		present[id] = true
	}
	for _, a := range articles {
		present[a.ID] = true
	}
	threads := 0
	var gone, resumed []*syndicate.Article
	for _, r := range records {
		if r.Source != "folder" || !hasThread(r) || present[r.ID] && r.State != syndicate.StateRetracting {
			threads += boolInt(r.Source == "folder" && hasThread(r))
			continue
		}
		a := &syndicate.Article{ID: r.ID, Source: "folder", Retracted: true, Hash: r.Hash}
		if r.State == syndicate.StateRetracting {
			if !present[r.ID] {
				resumed = append(resumed, a) // a deletion under way goes on
			}
			continue
		}
		threads++
		gone = append(gone, a)
	}
	sort.Slice(resumed, func(i, j int) bool { return resumed[i].ID < resumed[j].ID })
	if len(gone) == 0 || settling {
		return resumed, ""
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].ID < gone[j].ID })
	limit := max(MaxVanished, threads/10)
	if len(files) == 0 || len(gone) > limit {
		return resumed, fmt.Sprintf("%d of the folder's %d posted articles are gone at once (%s): their threads are NOT deleted, "+
			"as this looks like an emptied or unmounted folder (at most %d may go at once); to retract articles, set \"retracted: true\" in their files, or remove them a few at a time",
			len(gone), threads, ids(gone), limit)
	}
	return append(resumed, gone...), ""
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func ids(list []*syndicate.Article) string {
	var out []string
	for i, a := range list {
		if i == 5 {
			out = append(out, fmt.Sprintf("and %d more", len(list)-5))
			break
		}
		out = append(out, a.ID)
	}
	return strings.Join(out, ", ")
}
