package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/job"
	"github.com/syndicate-bot/syndicate/syndicate/schedule"
	"github.com/syndicate-bot/syndicate/syndicate/text"
)

// threadStatus is where an article's thread stands on one network.
type threadStatus struct {
	Network      string    `json:"network,omitempty"` // mastodon, bluesky
	State        string    `json:"state"`             // posted, posting, pending, waiting, settling, failed, draft, adopted, stopped
	URL          string    `json:"url,omitempty"`
	PostedAt     time.Time `json:"posted_at,omitzero"`
	Next         time.Time `json:"next,omitzero"` // when it goes: next tick, or its embargo date
	Reason       string    `json:"reason,omitempty"`
	PostsDone    int       `json:"posts_done,omitempty"`
	PostsPlanned int       `json:"posts_planned,omitempty"`
	// EditedAt, CorrectedAt and RetractedAt are when the thread was last
	// edited in place, last given a correction reply, and deleted.
	EditedAt    time.Time `json:"edited_at,omitzero"`
	CorrectedAt time.Time `json:"corrected_at,omitzero"`
	RetractedAt time.Time `json:"retracted_at,omitzero"`
}

// articleStatus is an article in "syndicate status": its state over the
// networks (job.Combine) with the details of the first network in that
// state, and its thread on each network.
type articleStatus struct {
	ID string `json:"id"`
	threadStatus
	Networks []threadStatus `json:"networks"`
}

type digestStatus struct {
	ID        int64     `json:"id"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	Articles  int       `json:"articles"`
	Sent      int       `json:"sent"`
	Failed    int       `json:"failed"`
	Pending   int       `json:"pending"`
	// Senders counts, on a state shared by replicas, the readers each
	// replica mailed.
	Senders map[string]int `json:"senders,omitempty"`
}

// status shows what was posted, what is pending and what failed, and
// the last digests. It only reads the state.
func (a *app) status(ctx context.Context, args []string) error {
	fs := a.flags("status", "[--json]")
	asJSON := fs.Bool("json", false, "print one JSON document")
	if help, err := a.parse(fs, args); help || err != nil {
		return err
	}
	if err := a.load(); err != nil {
		return err
	}
	a.offline = true // status reads the state: the feeds' items as last seen
	v, err := a.readView(ctx)
	if err != nil {
		return err
	}
	a.printProblems(v.set.Problems)
	set, records, digests := v.set, v.records, v.digests
	now := a.env.Now()
	nextTick := time.Time{}
	if spec := a.cfg.Schedule.Post; spec != "" {
		if sched, err := schedule.Parse(spec, a.cfg.Location()); err == nil {
			nextTick = sched.Next(now)
		}
	}
	networks := a.cfg.Networks()
	settle := a.cfg.ArticlesSettle.D()
	var lines []articleStatus
	seen := map[string]bool{}
	for _, art := range set.Articles {
		seen[art.ID] = true
		l := articleStatus{ID: art.ID}
		var states []job.State
		for _, n := range networks {
			r, known := records[n][art.ID]
			st := job.Classify(art, r, known, now, settle)
			states = append(states, st)
			ts := threadStatus{Network: n, State: string(st), EditedAt: r.EditedAt, CorrectedAt: r.CorrectedAt, RetractedAt: r.RetractedAt}
			switch st {
			case job.Posted, job.Changed, job.Retracting:
				ts.URL, ts.PostedAt = r.HeadURL, r.PostedAt
				if st != job.Posted {
					ts.Next = nextTick
				}
			case job.Posting:
				ts.URL, ts.PostedAt, ts.Next = r.HeadURL, r.PostedAt, nextTick
				ts.PostsDone, ts.PostsPlanned = r.PostsDone, r.PostsPlanned
			case job.Stopped:
				ts.URL, ts.PostsDone, ts.PostsPlanned = r.HeadURL, r.PostsDone, r.PostsPlanned
				ts.Reason = "the article became a draft while its thread was unfinished"
			case job.Failed:
				ts.Reason = r.Reason
			case job.Waiting:
				ts.Next = art.Date
			case job.Pending, job.Settling:
				ts.Next = nextTick
			}
			l.Networks = append(l.Networks, ts)
		}
		l.State = string(job.Combine(states...))
		for _, ts := range l.Networks {
			if ts.State == l.State {
				l.threadStatus = ts
				l.Network = ""
				break
			}
		}
		lines = append(lines, l)
	}
	// An unfinished thread whose file is gone (deleted, or unreadable:
	// see the problems above) is stopped: nothing more is posted. Classify
	// takes the article gone for a draft, as the post job does.
	gone := map[string]*articleStatus{}
	for _, n := range networks {
		for id, r := range records[n] {
			if seen[id] {
				continue
			}
			var ts threadStatus
			switch st := job.Classify(&syndicate.Article{ID: id, Draft: true}, r, true, now, settle); st {
			case job.Stopped:
				ts = threadStatus{Network: n, State: string(st), URL: r.HeadURL, PostsDone: r.PostsDone, PostsPlanned: r.PostsPlanned,
					Reason: "its file is gone or cannot be read while its thread was unfinished"}
			case job.Retracted:
				ts = threadStatus{Network: n, State: string(st), RetractedAt: r.RetractedAt, PostedAt: r.PostedAt}
			case job.Retracting:
				ts = threadStatus{Network: n, State: string(st), RetractedAt: r.RetractedAt, PostedAt: r.PostedAt, Next: nextTick}
			default:
				continue
			}
			if gone[id] == nil {
				gone[id] = &articleStatus{ID: id}
			}
			gone[id].Networks = append(gone[id].Networks, ts)
		}
	}
	for _, l := range gone {
		l.threadStatus = l.Networks[0]
		l.Network = ""
		lines = append(lines, *l)
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].ID < lines[j].ID })
	var dl []digestStatus
	for _, d := range digests {
		dl = append(dl, digestStatus{ID: d.ID, State: d.State, CreatedAt: d.CreatedAt, Articles: d.Articles, Sent: d.Sent, Failed: d.Failed, Pending: d.Pending,
			Senders: v.senders[d.ID]})
	}
	leader := ""
	if a.cfg.StatePostgres() {
		leader = a.showLeader(ctx)
	}
	if *asJSON {
		if lines == nil {
			lines = []articleStatus{}
		}
		if dl == nil {
			dl = []digestStatus{}
		}
		enc := json.NewEncoder(a.env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Articles []articleStatus `json:"articles"`
			Digests  []digestStatus  `json:"digests"`
			Leader   string          `json:"leader,omitempty"` // a shared state's leader
		}{lines, dl, leader})
	}
	loc := a.cfg.Location()
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(loc).Format("2006-01-02 15:04 MST")
	}
	w := tabwriter.NewWriter(a.env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ARTICLE\tNETWORK\tSTATE\tDETAIL")
	for _, al := range lines {
		for _, l := range al.Networks {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", text.Terminal(al.ID), l.Network, l.State, text.Terminal(a.statusDetail(al.ID, l, when)))
		}
	}
	w.Flush()
	fmt.Fprintln(a.env.Stdout)
	if leader != "" {
		fmt.Fprintf(a.env.Stdout, "Leader (the replica that posts): %s\n\n", text.Terminal(leader))
	}
	if len(dl) == 0 {
		fmt.Fprintln(a.env.Stdout, "No digest sent yet.")
		return nil
	}
	w = tabwriter.NewWriter(a.env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "DIGEST\tSTARTED\tSTATE\tARTICLES\tSENT\tFAILED\tPENDING")
	for _, d := range dl {
		fmt.Fprintf(w, "#%d\t%s\t%s\t%d\t%d\t%d\t%d\n", d.ID, when(d.CreatedAt), text.Terminal(d.State), d.Articles, d.Sent, d.Failed, d.Pending)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, d := range dl {
		if len(d.Senders) == 0 {
			continue
		}
		names := make([]string, 0, len(d.Senders))
		for name := range d.Senders {
			names = append(names, name)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, name := range names {
			shown := name
			if shown == "" {
				shown = "before replicas"
			}
			parts[i] = fmt.Sprintf("%s %d", shown, d.Senders[name])
		}
		fmt.Fprintf(a.env.Stdout, "#%d mailed by: %s\n", d.ID, text.Terminal(strings.Join(parts, ", ")))
	}
	return nil
}

// statusDetail is the DETAIL column of a thread's line in "status".
func (a *app) statusDetail(id string, l threadStatus, when func(time.Time) string) string {
	changed := ""
	if !l.EditedAt.IsZero() {
		changed += "; edited " + when(l.EditedAt)
	}
	if !l.CorrectedAt.IsZero() {
		changed += "; corrected " + when(l.CorrectedAt)
	}
	switch l.State {
	case "posted":
		return when(l.PostedAt) + changed + "  " + l.URL
	case "changed":
		return "changed since its thread was posted (" + when(l.PostedAt) + changed + "); edited at the next tick, " + when(l.Next) + "  " + l.URL
	case "retracting":
		return "retracted: its thread is being deleted; goes on at the next tick, " + when(l.Next)
	case "retracted":
		if l.RetractedAt.IsZero() {
			return "retracted before it was posted: never posted"
		}
		return "retracted: its thread was deleted " + when(l.RetractedAt) + "; never posted again"
	case "posting":
		return fmt.Sprintf("%d of %d posts made; resumes at the next tick, %s", l.PostsDone, l.PostsPlanned, when(l.Next))
	case "pending":
		if l.Next.IsZero() {
			return "goes out with the next post run (schedule.post is off)"
		}
		return "next tick, " + when(l.Next)
	case "waiting":
		return "embargoed until " + when(l.Next)
	case "failed":
		retry := "syndicate post --retry " + id
		if len(a.cfg.Networks()) > 1 {
			retry += " --network " + l.Network
		}
		return l.Reason + "  (after fixing: " + retry + ")"
	case "stopped":
		return fmt.Sprintf("%d of %d posts made; %s: nothing more is posted", l.PostsDone, l.PostsPlanned, l.Reason)
	case "settling":
		return fmt.Sprintf("changed less than %s ago (articles_settle); the daemon takes it at the next tick, %s", a.cfg.ArticlesSettle.D(), when(l.Next))
	case "adopted":
		return "recorded as posted by --mark-posted"
	case "draft":
		return "draft: never posted or mailed"
	}
	return ""
}
