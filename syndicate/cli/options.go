package cli

import (
	texttemplate "text/template"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
	"github.com/syndicate-bot/syndicate/syndicate/job"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
	"github.com/syndicate-bot/syndicate/templates"
)

// The jobs take the settings they use, not the config: this file is where
// the config's keys become them.

// threadOptions are the composition settings of the config with the
// limits in force; the head template is parsed here.
func (a *app) threadOptions(lim syndicate.Limits) (thread.Options, error) {
	src, source, err := templates.Open(a.cfg.TemplatesDir, templates.HeadPost)
	if err != nil {
		return thread.Options{}, err
	}
	head, err := texttemplate.New(source).Option("missingkey=error").Parse(src)
	if err != nil {
		return thread.Options{}, err
	}
	m := a.cfg.Mastodon
	return thread.Options{
		Limits: lim, Numbering: m.Numbering, Visibility: m.Visibility, ReplyVisibility: m.ReplyVisibility,
		Language: m.Language, Hashtags: m.Hashtags, Head: head, MaxPosts: m.MaxPostsPerThread,
	}, nil
}

// postOptions are the post job's settings.
func (a *app) postOptions() (job.PostOptions, error) {
	t, err := a.threadOptions(syndicate.Limits{})
	if err != nil {
		return job.PostOptions{}, err
	}
	m := a.cfg.Mastodon
	return job.PostOptions{Server: m.Server, MaxThreadsPerRun: m.MaxThreadsPerRun, MaxCharacters: m.MaxCharacters, Counting: m.Counting, Thread: t}, nil
}

// digestOptions are the digest job's settings.
func (a *app) digestOptions() job.DigestOptions {
	e := a.cfg.Email
	return job.DigestOptions{
		MaxArticles: e.MaxArticles, Retries: e.Retries, RetryBackoff: e.RetryBackoff.D(), Subscribers: e.Subscribers,
		Issue: a.issueOptions(), Pictures: a.digestPictures(),
	}
}

// digestPictures says where the digest's pictures are published.
func (a *app) digestPictures() digest.Pictures {
	return digest.Pictures{BaseURL: a.cfg.Email.MediaBaseURL, ArticlesDir: a.cfg.ArticlesDir, MediaDirs: a.cfg.MediaDirs}
}

// issueOptions are the settings every message of a digest shares.
func (a *app) issueOptions() job.IssueOptions {
	e := a.cfg.Email
	return job.IssueOptions{From: e.From, ListID: e.ListID, ArchiveURL: a.cfg.BaseURL, UnsubscribeURL: e.UnsubscribeURL, Location: a.cfg.Location()}
}
