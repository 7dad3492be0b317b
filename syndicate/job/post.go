package job

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/files"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
)

// PostOptions are the settings the post job uses on one network, taken
// from the config once (the command line builds them).
type PostOptions struct {
	// Server is the server's address, under which what it said of itself
	// is kept for the dry runs; "" keeps nothing (Bluesky's limits are
	// its lexicon's, the same everywhere).
	Server string
	// MaxThreadsPerRun caps the threads one run starts or resumes (0: no
	// cap); the rest are left for later runs.
	MaxThreadsPerRun int
	// MaxCharacters, when set, wins over the server's own limit.
	MaxCharacters int
	// Counting is the configured counting rule ("" when the server's
	// software decides).
	Counting string
	// Thread is how threads are composed; its Limits are the server's,
	// filled in at each run.
	Thread thread.Options
	// DeleteVanished deletes the thread of an article whose file left the
	// folder, as if it were retracted (mastodon.on_delete: delete); a
	// feed's items are never taken for gone. See Vanished.
	DeleteVanished bool
}

// PostDeps are what the post job works with: one network's outlet and
// options, and the ledger it shares with the others.
type PostDeps struct {
	Options PostOptions
	Ledger  syndicate.PostLedger
	Outlet  syndicate.Outlet
	// Images reads the pictures posts carry, confined to the articles
	// folder and media_dirs (see package files).
	Images ImageReader
	Log    *slog.Logger
	Now    func() time.Time
	// Grace is how long a post already being sent may take to finish
	// after ctx is cancelled (a SIGTERM); 0 means job.Grace.
	Grace time.Duration
	// Settle leaves articles changed more recently than this for a later
	// run (the daemon's articles_settle; 0 for a run by hand).
	Settle time.Duration
	// Retries is how often a post that failed with an unknown outcome is
	// looked for and sent again in one run; Backoff the first wait (1s).
	Retries int
	Backoff time.Duration
	// Files are the IDs of every file in the articles folder, read or
	// not (article.Set.Files): with DeleteVanished, a thread of the
	// folder whose ID is not among them is deleted. nil: the folder was
	// not listed, and no thread is taken for gone.
	Files []string
	// FolderChanged is when a file last came or went in the folder (its
	// modification time, article.Set.FolderChanged). With Settle, no
	// file is taken for gone while the folder changed less than Settle
	// ago: a checkout, a copy or an editor rewriting it makes a file
	// vanish for a moment, and a deleted thread cannot be brought back.
	FolderChanged time.Time
}

// ImageReader reads a picture, checked to be an image of at most limit
// bytes inside the allowed folders.
type ImageReader interface {
	Read(path string, limit int64) (files.Image, error)
}

// PostReport says what a run did on one network.
type PostReport struct {
	Network  string
	Finished []string  // articles whose thread is complete
	Failed   []Failure // articles the server rejected
	// Unpictured are the head posts that went without their picture: the
	// network could not take it (see syndicate.ErrPictureTooLarge).
	Unpictured []Failure
	Posts      int // statuses created or found in this run
	Left       int // due articles left for later runs by the cap
	Waiting    int // articles waiting for their date
	// Edited are the articles whose thread was changed (edited in place,
	// appended to, corrected); Retracted those whose thread was deleted.
	Edited, Retracted []string
	// Edits, Deletes and Corrections count the posts edited in place,
	// deleted, and the correction replies posted.
	Edits, Deletes, Corrections int
	// Refused is set when files vanished from the folder at once in such
	// numbers that their threads were not deleted (see Vanished).
	Refused string
}

// Failure is an article the server rejected, with its reason.
type Failure struct {
	ArticleID string
	Reason    string
}

// Grace is how long the item in hand — a post being sent, a message in
// DATA — may take to finish after a stop (SIGTERM). The daemon waits a
// little longer for its jobs; systemd's TimeoutStopSec (15 s in
// docs/syndicate.service) must be longer still.
const Grace = 8 * time.Second

// ErrStopped is returned when ctx was cancelled between posts: what was
// posted is recorded and the rest goes out on the next run.
var ErrStopped = errors.New("stopped before the run was done")

// Post posts the threads of the due articles on the outlet's network,
// oldest first (unfinished threads before anything new), at most
// PostOptions.MaxThreadsPerRun. Each network is a run of its own, with
// its own records in the ledger: one network failing never touches
// another's threads.
//
// Exactly once, by means together: every post is planned in the ledger
// (the outlet fixes what a retry must repeat, such as Bluesky's record
// key and createdAt) before the first is sent; every post carries an
// Idempotency-Key made from the article, the post's index, its text and
// its parent (Mastodon replays the original for an hour); the ledger
// records each post before the next is sent; and a post whose outcome is
// unknown (a timeout, a lost connection, a killed process) is first
// looked for (Mastodon: among the account's recent statuses; Bluesky:
// under its planned record key) before it is sent again.
func Post(ctx context.Context, d PostDeps, articles []*syndicate.Article) (PostReport, error) {
	network := d.Outlet.Network()
	rep := PostReport{Network: network}
	if d.Now == nil {
		d.Now = time.Now
	}
	d.Log = d.Log.With("network", network)
	records, err := d.Ledger.ArticleRecords(ctx, network)
	if err != nil {
		return rep, err
	}
	if d.Options.DeleteVanished && d.Files != nil {
		gone, refused := Vanished(articles, d.Files, records, FolderSettling(d.FolderChanged, d.Now(), d.Settle))
		if refused != "" {
			rep.Refused = refused
			d.Log.Error(refused)
		}
		articles = append(append([]*syndicate.Article(nil), articles...), gone...)
	}
	plan := SelectPosts(articles, records, d.Now(), d.Settle)
	rep.Waiting = len(plan.Waiting)
	due := plan.Due
	if c := d.Options.MaxThreadsPerRun; c > 0 && len(due) > c {
		rep.Left = len(due) - c
		due = due[:c]
	}
	if len(due) == 0 {
		return rep, nil
	}
	r := &run{d: d, lim: &limiter{d: d}, rep: &rep}
	for _, a := range due {
		if ctx.Err() != nil {
			return rep, ErrStopped
		}
		rec := records[a.ID]
		var posted int
		var err error
		switch state := plan.States[a.ID]; {
		case state == Retracting:
			if err = r.retractArticle(ctx, a, rec); err == nil {
				rep.Retracted = append(rep.Retracted, a.ID)
			}
		case r.editing(ctx, a, rec, state):
			edits, deletes, corrections := rep.Edits, rep.Deletes, rep.Corrections
			posted, err = r.editArticle(ctx, a, rec)
			if err == nil && (rep.Edits != edits || rep.Deletes != deletes || rep.Corrections != corrections || posted > 0) {
				rep.Edited = append(rep.Edited, a.ID)
			}
		default:
			var lim syndicate.Limits
			if lim, err = r.lim.get(ctx); err != nil {
				return rep, err
			}
			opts := d.Options.Thread
			opts.Limits = lim
			posted, err = postArticle(ctx, d, a, opts, lim, &rep)
		}
		rep.Posts += posted
		var rejected *rejection
		switch {
		case errors.As(err, &rejected):
			d.Log.Error("article failed; it waits for \"syndicate post --retry "+a.ID+"\" or an edit of its file", "article", a.ID, "reason", rejected.reason)
			if ferr := d.Ledger.FailArticle(ctx, network, a.ID, a.Hash, rejected.reason); ferr != nil {
				return rep, ferr
			}
			rep.Failed = append(rep.Failed, Failure{ArticleID: a.ID, Reason: rejected.reason})
		case err != nil:
			return rep, fmt.Errorf("article %s: %w", a.ID, err)
		case plan.States[a.ID] == Pending || rec.State == syndicate.StatePosting || rec.State == syndicate.StateFailed:
			// (A thread half made and changed is complete now too.)
			rep.Finished = append(rep.Finished, a.ID)
		}
	}
	return rep, nil
}

// rememberServer keeps what the server said of itself for the dry runs,
// and says once (when it is new or changed) what that means.
func rememberServer(ctx context.Context, d PostDeps, lim syndicate.Limits) error {
	server := d.Options.Server
	if server == "" {
		return nil
	}
	old, known, err := d.Ledger.ServerInfo(ctx, server)
	if err != nil {
		return err
	}
	if !known || old.Software != lim.Software || old.Version != lim.Version || old.Counting != lim.Counting {
		d.Log.Info("server identified", "server", server, "software", lim.Software, "version", lim.Version,
			"counting", thread.Counting(lim.Counting).Name(), "max_characters", lim.MaxCharacters)
		if !lim.IdempotencyKeys {
			d.Log.Warn("this server does not honour Idempotency-Key: a post whose outcome is unknown is settled by the ledger and by reading the account's recent statuses (see the README's honest limit)",
				"software", lim.Software)
		}
		if lim.Counting == string(thread.CountStrict) && lim.Counting != d.Options.Counting {
			d.Log.Warn("the server's software is not one syndicate knows: post length is counted strictly (mastodon.counting chooses a rule)", "software", lim.Software)
		}
	}
	return d.Ledger.RememberServer(ctx, server, syndicate.ServerInfo{Limits: lim, SeenAt: d.Now()})
}

// rejection is an article the server refused for good.
type rejection struct{ reason string }

func (r *rejection) Error() string { return r.reason }

// postArticle plans and posts one article's thread, resuming where an
// earlier run stopped. It returns how many posts it made or found.
func postArticle(ctx context.Context, d PostDeps, a *syndicate.Article, opts thread.Options, lim syndicate.Limits, rep *PostReport) (int, error) {
	network := d.Outlet.Network()
	t, err := thread.Compose(a, opts)
	if err != nil {
		return 0, &rejection{reason: err.Error()}
	}
	now := d.Now()
	planned := make([]syndicate.PlannedPost, len(t.Posts))
	for i, p := range t.Posts {
		pp := syndicate.PlannedPost{Index: i, Text: p.Text, ContentWarning: p.ContentWarning, Visibility: p.Visibility, Language: p.Language}
		if len(p.Media) > 0 {
			pp.MediaFile, pp.MediaAlt = p.Media[0].File, p.Media[0].Description
		}
		if c := p.Card; c != nil {
			pp.CardURL, pp.CardTitle, pp.CardDescription = c.URL, c.Title, c.Description
		}
		// What a retry must repeat is fixed now, before the plan is
		// recorded (a post already planned keeps what it was given).
		d.Outlet.Plan(&pp, now)
		planned[i] = pp
	}
	// The plan keeps posts already made (or in doubt) and replaces the rest.
	if err := d.Ledger.PlanThread(ctx, network, a.ID, a.Hash, planned); err != nil {
		return 0, err
	}
	posts, err := d.Ledger.PlannedPosts(ctx, network, a.ID)
	if err != nil {
		return 0, err
	}
	made := 0
	var prev, root syndicate.Ref
	for _, p := range posts {
		if p.StatusID != "" {
			prev = syndicate.Ref{ID: p.StatusID, CID: p.CID}
			if p.Index == 0 {
				root = prev
			}
			continue
		}
		if ctx.Err() != nil {
			return made, ErrStopped
		}
		st, err := makePost(ctx, d, a, p, prev, root, lim, rep)
		if err != nil {
			return made, err
		}
		made++
		prev = syndicate.Ref{ID: st.ID, CID: st.CID}
		if p.Index == 0 {
			root = prev
		}
		d.Log.Info("posted", "article", a.ID, "post", fmt.Sprintf("%d/%d", p.Index+1, len(posts)), "status", st.ID)
	}
	if err := d.Ledger.FinishArticle(ctx, network, a.ID); err != nil {
		return made, err
	}
	return made, nil
}

// sendOnce makes one post exist exactly once. A failure that leaves the
// outcome unknown — a timeout, a lost connection, a 5xx that a proxy may
// have answered while the server went on — is never simply resent: the
// post is first looked for (FindPosted), and the resend carries the same
// idempotency key (and, on Bluesky, is the same record under the same
// key, which cannot be written twice).
// makePost sends one planned post and records it: the one way a post of a
// thread is made, for new threads and for the replies a change appends.
func makePost(ctx context.Context, d PostDeps, a *syndicate.Article, p syndicate.PlannedPost, prev, root syndicate.Ref, lim syndicate.Limits, rep *PostReport) (syndicate.Status, error) {
	st, err := sendOnce(ctx, d, a, p, prev, root, lim, rep)
	if err != nil {
		return st, err
	}
	// Recorded even after a stop: the post exists.
	if err := d.Ledger.RecordPost(context.WithoutCancel(ctx), d.Outlet.Network(), a.ID, p.Index, st); err != nil {
		return st, fmt.Errorf("recording post %d (status %s): %w", p.Index+1, st.ID, err)
	}
	return st, nil
}

func sendOnce(ctx context.Context, d PostDeps, a *syndicate.Article, p syndicate.PlannedPost, prev, root syndicate.Ref, lim syndicate.Limits, rep *PostReport) (syndicate.Status, error) {
	network := d.Outlet.Network()
	// The post in hand may finish after a SIGTERM, within the grace time.
	sendCtx, cancel := graceful(ctx, d)
	defer cancel()

	retries, wait := d.Retries, d.Backoff
	if wait <= 0 {
		wait = time.Second
	}
	p.IdempotencyKey = IdempotencyKey(a.ID, p, prev.ID)
	inDoubt := !p.AttemptedAt.IsZero()
	since := p.AttemptedAt
	pictured := true // until the network says it cannot take the picture
	for attempt := 0; ; attempt++ {
		if inDoubt {
			// Allow for clock skew between us and the server.
			st, found, err := d.Outlet.FindPosted(sendCtx, p, prev, since.Add(-10*time.Minute))
			if err != nil {
				return st, classifyPostError(err)
			}
			if found {
				d.Log.Info("found a post whose outcome was unknown", "article", a.ID, "post", p.Index+1, "status", st.ID)
				return st, nil
			}
		}
		if !inDoubt {
			since = time.Now()
		}
		var pic syndicate.Picture
		if p.MediaFile != "" && pictured {
			var err error
			if pic, err = readPicture(d.Images, p.MediaFile, lim); err != nil {
				return syndicate.Status{}, err
			}
		}
		if err := d.Ledger.MarkAttempt(sendCtx, network, a.ID, p.Index); err != nil {
			return syndicate.Status{}, err
		}
		var media []string
		if p.MediaFile != "" && pictured {
			id, err := d.Outlet.Upload(sendCtx, pic, p.MediaAlt)
			switch {
			case errors.Is(err, syndicate.ErrPictureTooLarge):
				// The same picture is too large on every attempt, so every
				// attempt sends the same post: without it.
				pictured = false
				reason := fmt.Sprintf("posted without its picture %s: %v", p.MediaFile, err)
				d.Log.Warn("the network cannot take the picture: the post goes without it", "article", a.ID, "post", p.Index+1, "err", err)
				rep.Unpictured = append(rep.Unpictured, Failure{ArticleID: a.ID, Reason: reason})
			case err != nil:
				return syndicate.Status{}, classifyPostError(err)
			default:
				media = []string{id}
			}
		}
		st, err := d.Outlet.Post(sendCtx, p, prev, root, media)
		if err == nil {
			return st, nil
		}
		err = classifyPostError(err)
		var rejected *rejection
		if errors.As(err, &rejected) || errors.Is(err, syndicate.ErrUnauthorized) || attempt >= retries || sendCtx.Err() != nil {
			return st, err
		}
		inDoubt = true
		d.Log.Warn("post failed; looking for it before sending again", "article", a.ID, "post", p.Index+1, "attempt", attempt+1, "wait", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-sendCtx.Done():
			return st, err
		}
		wait = min(2*wait, time.Minute)
	}
}

// graceful is a context for the request in hand: it outlives ctx's
// cancellation (a SIGTERM) by the grace time, so the request may finish
// and be recorded.
func graceful(ctx context.Context, d PostDeps) (context.Context, context.CancelFunc) {
	grace := d.Grace
	if grace <= 0 {
		grace = Grace
	}
	inHand, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	return inHand, func() { stop(); cancel() }
}

// readPicture reads a post's picture as the server will take it: an image
// of a type it accepts, within its size limit (unless the outlet shrinks
// a larger one itself) and never more than files.MaxImageSize. Anything
// else fails the article (nothing was sent).
func readPicture(images ImageReader, path string, lim syndicate.Limits) (syndicate.Picture, error) {
	if images == nil {
		return syndicate.Picture{}, &rejection{reason: "picture " + path + ": no picture folders are open"}
	}
	limit := int64(files.MaxImageSize)
	if lim.ImageSizeLimit > 0 && lim.ImageSizeLimit < limit && !lim.ShrinksImages {
		limit = lim.ImageSizeLimit
	}
	img, err := images.Read(path, limit)
	if err != nil {
		return syndicate.Picture{}, &rejection{reason: "picture " + err.Error()}
	}
	if !files.Supported(img.Type, lim.ImageTypes) {
		return syndicate.Picture{}, &rejection{reason: fmt.Sprintf("picture %s is %s, which the server does not take (it takes %s)", path, img.Type, strings.Join(lim.ImageTypes, ", "))}
	}
	return syndicate.Picture{Name: img.Name, Type: img.Type, Data: img.Data}, nil
}

func classifyPostError(err error) error {
	if errors.Is(err, syndicate.ErrRejected) {
		return &rejection{reason: err.Error()}
	}
	return err
}

// IdempotencyKey is the post's key: the same article, index, content and
// parent always give the same key, so a resend is recognised by the
// server. The parent is part of it so that a head post made anew (after
// an edit) can never be answered with the replies of the old one.
func IdempotencyKey(articleID string, p syndicate.PlannedPost, inReplyTo string) string {
	h := sha256.New()
	for _, part := range []string{articleID, strconv.Itoa(p.Index), inReplyTo, p.ContentWarning, p.Text, p.Visibility, p.Language, p.MediaFile, p.MediaAlt} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "syndicate-" + hex.EncodeToString(h.Sum(nil)[:16])
}
