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

// threadOptions are the composition settings of a network's section with
// the limits in force; the head template is parsed here.
func (a *app) threadOptions(network string, lim syndicate.Limits) (thread.Options, error) {
	src, source, err := templates.Open(a.cfg.TemplatesDir, templates.HeadPost)
	if err != nil {
		return thread.Options{}, err
	}
	head, err := texttemplate.New(source).Option("missingkey=error").Parse(src)
	if err != nil {
		return thread.Options{}, err
	}
	if network == syndicate.NetworkBluesky {
		// Every Bluesky post is public; a content warning becomes the
		// posts' first line (Bluesky has only labels for adult content);
		// the client writes the head post's link card.
		b := a.cfg.Bluesky
		return thread.Options{
			Limits: lim, Numbering: b.Numbering, Visibility: "public", ReplyVisibility: "public",
			Language: b.Language, Hashtags: b.Hashtags, Head: head, MaxPosts: b.MaxPostsPerThread,
			Network: network, ContentWarningInText: true, LinkCard: true,
		}, nil
	}
	m := a.cfg.Mastodon
	return thread.Options{
		Limits: lim, Numbering: m.Numbering, Visibility: m.Visibility, ReplyVisibility: m.ReplyVisibility,
		Language: m.Language, Hashtags: m.Hashtags, Head: head, MaxPosts: m.MaxPostsPerThread, Network: network,
	}, nil
}

// postOptions are the post job's settings on a network.
func (a *app) postOptions(network string) (job.PostOptions, error) {
	t, err := a.threadOptions(network, syndicate.Limits{})
	if err != nil {
		return job.PostOptions{}, err
	}
	if network == syndicate.NetworkBluesky {
		// The lexicon's limits are the same on every PDS: nothing to
		// learn of the server and keep.
		return job.PostOptions{MaxThreadsPerRun: a.cfg.Bluesky.MaxThreadsPerRun, Thread: t, DeleteVanished: a.deleteVanished()}, nil
	}
	m := a.cfg.Mastodon
	return job.PostOptions{Server: m.Server, MaxThreadsPerRun: m.MaxThreadsPerRun, MaxCharacters: m.MaxCharacters, Counting: m.Counting, Thread: t,
		DeleteVanished: a.deleteVanished()}, nil
}

// deleteVanished is mastodon.on_delete: delete, which takes every
// network's threads of a file gone for retracted.
func (a *app) deleteVanished() bool {
	return a.cfg.Mastodon.OnDelete == "delete"
}

// maxThreads is a network's cap on threads per run, and the key it is.
func (a *app) maxThreads(network string) (int, string) {
	if network == syndicate.NetworkBluesky {
		return a.cfg.Bluesky.MaxThreadsPerRun, "bluesky.max_threads_per_run"
	}
	return a.cfg.Mastodon.MaxThreadsPerRun, "mastodon.max_threads_per_run"
}

// digestOptions are the digest job's settings.
func (a *app) digestOptions() job.DigestOptions {
	e := a.cfg.Email
	return job.DigestOptions{
		MaxArticles: e.MaxArticles, Retries: e.Retries, RetryBackoff: e.RetryBackoff.D(), Subscribers: e.Subscribers,
		Networks: a.cfg.Networks(), Issue: a.issueOptions(), Pictures: a.digestPictures(),
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
