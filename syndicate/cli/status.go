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

// articleStatus is one line of "syndicate status".
type articleStatus struct {
	ID           string    `json:"id"`
	State        string    `json:"state"` // posted, posting, pending, waiting, settling, failed, draft, adopted, stopped
	URL          string    `json:"url,omitempty"`
	PostedAt     time.Time `json:"posted_at,omitzero"`
	Next         time.Time `json:"next,omitzero"` // when it goes: next tick, or its embargo date
	Reason       string    `json:"reason,omitempty"`
	PostsDone    int       `json:"posts_done,omitempty"`
	PostsPlanned int       `json:"posts_planned,omitempty"`
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
	var lines []articleStatus
	seen := map[string]bool{}
	for _, art := range set.Articles {
		seen[art.ID] = true
		r, known := records[art.ID]
		l := articleStatus{ID: art.ID}
		st := job.Classify(art, r, known, now, a.cfg.ArticlesSettle.D())
		l.State = string(st)
		switch st {
		case job.Posted:
			l.URL, l.PostedAt = r.HeadURL, r.PostedAt
		case job.Posting:
			l.URL, l.PostedAt, l.Next = r.HeadURL, r.PostedAt, nextTick
			l.PostsDone, l.PostsPlanned = r.PostsDone, r.PostsPlanned
		case job.Stopped:
			l.URL, l.PostsDone, l.PostsPlanned = r.HeadURL, r.PostsDone, r.PostsPlanned
			l.Reason = "the article became a draft while its thread was unfinished"
		case job.Failed:
			l.Reason = r.Reason
		case job.Waiting:
			l.Next = art.Date
		case job.Pending, job.Settling:
			l.Next = nextTick
		}
		lines = append(lines, l)
	}
	// An unfinished thread whose file is gone (deleted, or unreadable:
	// see the problems above) is stopped: nothing more is posted.
	for id, r := range records {
		if !seen[id] && r.State == syndicate.StatePosting {
			lines = append(lines, articleStatus{ID: id, State: string(job.Stopped), URL: r.HeadURL, PostsDone: r.PostsDone, PostsPlanned: r.PostsPlanned,
				Reason: "its file is gone or cannot be read while its thread was unfinished"})
		}
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
	fmt.Fprintln(w, "ARTICLE\tSTATE\tDETAIL")
	for _, l := range lines {
		detail := ""
		switch l.State {
		case "posted":
			detail = when(l.PostedAt) + "  " + l.URL
		case "posting":
			detail = fmt.Sprintf("%d of %d posts made; resumes at the next tick, %s", l.PostsDone, l.PostsPlanned, when(l.Next))
		case "pending":
			if l.Next.IsZero() {
				detail = "goes out with the next post run (schedule.post is off)"
			} else {
				detail = "next tick, " + when(l.Next)
			}
		case "waiting":
			detail = "embargoed until " + when(l.Next)
		case "failed":
			detail = l.Reason + "  (after fixing: syndicate post --retry " + l.ID + ")"
		case "stopped":
			detail = fmt.Sprintf("%d of %d posts made; %s: nothing more is posted", l.PostsDone, l.PostsPlanned, l.Reason)
		case "settling":
			detail = fmt.Sprintf("changed less than %s ago (articles_settle); the daemon takes it at the next tick, %s", a.cfg.ArticlesSettle.D(), when(l.Next))
		case "adopted":
			detail = "recorded as posted by --mark-posted"
		case "draft":
			detail = "draft: never posted or mailed"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", text.Terminal(l.ID), l.State, text.Terminal(detail))
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
		fmt.Fprintf(w, "#%d\t%s\t%s\t%d\t%d\t%d\t%d\n", d.ID, when(d.CreatedAt), d.State, d.Articles, d.Sent, d.Failed, d.Pending)
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
