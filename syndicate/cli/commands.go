package cli

import (
	"context"
)

// post posts the pending threads, or shows them with --dry-run.
func (a *app) post(ctx context.Context, args []string) error {
	fs := a.flags("post", "[--dry-run [--json] [--all]]")
	dryRun := fs.Bool("dry-run", false, "show the threads that would be posted now; send and record nothing")
	asJSON := fs.Bool("json", false, "with --dry-run: print one JSON document")
	all := fs.Bool("all", false, "with --dry-run: show every pending thread, not only this run's (mastodon.max_threads_per_run)")
	if help, err := a.parse(fs, args); help || err != nil {
		return err
	}
	if err := a.load(); err != nil {
		return err
	}
	if !*dryRun {
		return usageError("post: live posting is not built yet; use --dry-run")
	}
	return a.postDryRun(ctx, *asJSON, *all)
}

// digest mails the pending digest, or shows it with --dry-run.
func (a *app) digest(ctx context.Context, args []string) error {
	fs := a.flags("digest", "[--dry-run [--json] [--out DIR]]")
	dryRun := fs.Bool("dry-run", false, "show the digest that would be sent now; send and record nothing")
	asJSON := fs.Bool("json", false, "with --dry-run: print one JSON document")
	out := fs.String("out", "", "with --dry-run: write digest.eml, digest.html and digest.txt as the first reader would get them")
	if help, err := a.parse(fs, args); help || err != nil {
		return err
	}
	if err := a.load(); err != nil {
		return err
	}
	if !*dryRun {
		return usageError("digest: live sending is not built yet; use --dry-run")
	}
	return a.digestDryRun(ctx, *asJSON, *out)
}
