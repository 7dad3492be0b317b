// Package job holds the two jobs — post the pending threads, send the
// pending digest — as plain functions over the store and the outlets. The
// command line and the daemon both call them, so the scheduler never
// reaches up into the CLI. Each job does all the pending work it finds
// (bounded by the per-run caps): a missed tick is caught up by the next.
package job

import (
	"fmt"
	"sort"
	texttemplate "text/template"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/config"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
	"github.com/syndicate-bot/syndicate/templates"
)

// PostPlan sorts the articles for the post job.
type PostPlan struct {
	// Due are the articles to post now: unfinished threads first, then
	// the rest oldest first.
	Due []*syndicate.Article
	// Waiting are articles whose date is still in the future (embargo).
	Waiting []*syndicate.Article
	// Failed are failed articles that were not edited since.
	Failed []*syndicate.Article
}

// SelectPosts decides which articles are due. records is the ledger (nil
// or empty when there is none yet); drafts and posted articles are left
// out.
func SelectPosts(articles []*syndicate.Article, records map[string]syndicate.ArticleRecord, now time.Time) PostPlan {
	var p PostPlan
	var resume []*syndicate.Article
	for _, a := range articles {
		r, known := records[a.ID]
		switch {
		case known && r.State == syndicate.StatePosting:
			resume = append(resume, a) // never leave a thread half-posted
		case known && (r.State == syndicate.StatePosted || r.State == syndicate.StateAdopted):
		case a.Draft:
		case known && r.State == syndicate.StateFailed && r.FailedHash == a.Hash:
			p.Failed = append(p.Failed, a)
		case !a.Date.IsZero() && a.Date.After(now):
			p.Waiting = append(p.Waiting, a)
		default:
			p.Due = append(p.Due, a)
		}
	}
	oldestFirst(resume)
	oldestFirst(p.Due)
	oldestFirst(p.Waiting)
	p.Due = append(resume, p.Due...)
	return p
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

// ThreadOptions are the composition settings of the config with the
// limits in force; the head template is parsed here, once.
func ThreadOptions(cfg *config.Config, lim syndicate.Limits) (thread.Options, error) {
	src, err := templates.Read(cfg.TemplatesDir, templates.HeadPost)
	if err != nil {
		return thread.Options{}, err
	}
	head, err := texttemplate.New(templates.HeadPost).Option("missingkey=error").Parse(src)
	if err != nil {
		return thread.Options{}, fmt.Errorf("template %s: %w", templates.HeadPost, err)
	}
	m := cfg.Mastodon
	return thread.Options{
		Limits: lim, Numbering: m.Numbering, Visibility: m.Visibility, ReplyVisibility: m.ReplyVisibility,
		Language: m.Language, Hashtags: m.Hashtags, Head: head,
	}, nil
}
