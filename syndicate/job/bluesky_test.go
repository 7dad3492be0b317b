package job_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/bluesky"
	"github.com/syndicate-bot/syndicate/syndicate/files"
	"github.com/syndicate-bot/syndicate/syndicate/job"
	"github.com/syndicate-bot/syndicate/syndicate/mastodon"
	"github.com/syndicate-bot/syndicate/syndicate/mastodon/mastotest"
	"github.com/syndicate-bot/syndicate/syndicate/store"
	"github.com/syndicate-bot/syndicate/syndicate/testpeer/pds"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
)

// The post job on Bluesky, over the real Bluesky client against a real
// PDS (syndicate/testpeer/pds; these tests skip where it is not
// installed) and a real state.

const postCollection = "app.bsky.feed.post"

// skyOptions are the settings the command line gives a Bluesky run: the
// config's defaults, every post public, the warning in the text, a link
// card on the head.
func skyOptions(t *testing.T) job.PostOptions {
	o := postOptions(t, "")
	o.Thread.ReplyVisibility, o.Thread.Network, o.Thread.ContentWarningInText, o.Thread.LinkCard = "public", syndicate.NetworkBluesky, true, true
	return o
}

type skyEnv struct {
	srv    *pds.Server
	st     *store.DB
	log    *logBuffer
	d      job.PostDeps
	client *bluesky.Client
}

// newSkyEnv is a post job of the PDS's account on a fresh state, its
// requests carried by tr (nil: straight).
func newSkyEnv(t *testing.T, srv *pds.Server, tr http.RoundTripper) *skyEnv {
	t.Helper()
	e := &skyEnv{srv: srv, st: openState(t, time.Now)}
	logger, buf := newLog()
	e.log = buf
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	c, err := bluesky.New(bluesky.Options{Service: srv.URL, Handle: srv.Handle, AppPassword: srv.AppPassword, Language: "en",
		Timeout: 30 * time.Second, Backoff: time.Millisecond, Transport: tr, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	e.client = c
	e.d = job.PostDeps{Options: skyOptions(t), Ledger: e.st, Outlet: c, Log: logger, Retries: 3, Backoff: time.Millisecond}
	return e
}

func (e *skyEnv) post(t *testing.T, articles ...*syndicate.Article) job.PostReport {
	t.Helper()
	rep, err := job.Post(context.Background(), e.d, articles)
	if err != nil {
		t.Fatalf("Post: %v\n%s", err, e.log)
	}
	return rep
}

// skyPost is a post record as the PDS keeps it.
type skyPost struct {
	Text      string   `json:"text"`
	CreatedAt string   `json:"createdAt"`
	Langs     []string `json:"langs"`
	Reply     *struct {
		Root, Parent struct{ URI, CID string }
	} `json:"reply"`
	Embed *struct {
		Type   string `json:"$type"`
		Images []struct {
			Alt         string `json:"alt"`
			AspectRatio struct{ Width, Height int }
			Image       struct {
				MimeType string `json:"mimeType"`
				Size     int    `json:"size"`
			} `json:"image"`
		} `json:"images"`
		External *struct{ URI, Title, Description string } `json:"external"`
	} `json:"embed"`
}

// thread reads an article's Bluesky thread back from the PDS, in the
// ledger's order, checking each post is the planned one (the text as
// Bluesky shows it, createdAt to the millisecond, the record's CID) and
// the chain: every reply names the head as its root and the post before
// as its parent, with their CIDs.
func (e *skyEnv) thread(t *testing.T, articleID string) []skyPost {
	t.Helper()
	planned, err := e.st.PlannedPosts(context.Background(), syndicate.NetworkBluesky, articleID)
	if err != nil {
		t.Fatal(err)
	}
	var out []skyPost
	for i, p := range planned {
		u, err := syntax.ParseATURI(p.StatusID)
		if err != nil || u.RecordKey().String() != p.RecordKey || u.Authority().String() != e.srv.DID {
			t.Fatalf("%s post %d: status %q, record key %q", articleID, i+1, p.StatusID, p.RecordKey)
		}
		rec, ok := e.srv.GetRecord(t, postCollection, p.RecordKey)
		if !ok {
			t.Fatalf("%s post %d: no record %s", articleID, i+1, p.RecordKey)
		}
		var v skyPost
		if err := json.Unmarshal(rec.Value, &v); err != nil {
			t.Fatal(err)
		}
		if rec.CID != p.CID {
			t.Errorf("%s post %d: the ledger has CID %s, the PDS %s", articleID, i+1, p.CID, rec.CID)
		}
		if want := thread.BlueskyText(p.Text); v.Text != want {
			t.Errorf("%s post %d: text %q, want %q", articleID, i+1, v.Text, want)
		}
		if want := p.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z"); v.CreatedAt != want {
			t.Errorf("%s post %d: createdAt %s, planned %s", articleID, i+1, v.CreatedAt, want)
		}
		if i == 0 {
			if v.Reply != nil {
				t.Errorf("%s: the head replies to %+v", articleID, v.Reply)
			}
		} else if v.Reply == nil || v.Reply.Parent.URI != planned[i-1].StatusID || v.Reply.Parent.CID != planned[i-1].CID ||
			v.Reply.Root.URI != planned[0].StatusID || v.Reply.Root.CID != planned[0].CID {
			t.Errorf("%s post %d: reply %+v, want parent %s and root %s", articleID, i+1, v.Reply, planned[i-1].StatusID, planned[0].StatusID)
		}
		out = append(out, v)
	}
	return out
}

// picture is a PNG of w×h pixels: noisy (incompressible) or plain.
func picture(t *testing.T, w, h int, noisy bool) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{R: uint8(x), G: uint8(y), B: 200, A: 255}
			if noisy {
				c = color.NRGBA{R: uint8(r.Uint32()), G: uint8(r.Uint32()), B: uint8(r.Uint32()), A: 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// limitsSeen is a picture reader that notes the limit it was asked for.
type limitsSeen struct {
	pictures
	mu     sync.Mutex
	limits []int64
}

func (l *limitsSeen) Read(path string, limit int64) (files.Image, error) {
	l.mu.Lock()
	l.limits = append(l.limits, limit)
	l.mu.Unlock()
	return l.pictures.Read(path, limit)
}

// noPictures is the Bluesky outlet with a network that takes no picture:
// every upload is syndicate.ErrPictureTooLarge.
type noPictures struct{ *bluesky.Client }

func (noPictures) Upload(context.Context, syndicate.Picture, string) (string, error) {
	return "", fmt.Errorf("bluesky: upload: %w: 90000000 pixels", syndicate.ErrPictureTooLarge)
}

// loseAnswer passes requests to the PDS and, once armed, loses the answer
// of the n-th putRecord after it (the PDS wrote the post; the client never
// hears so).
type loseAnswer struct {
	base http.RoundTripper
	mu   sync.Mutex
	puts int
	lose map[int]bool
}

func (l *loseAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/com.atproto.repo.putRecord") {
		return resp, err
	}
	l.mu.Lock()
	l.puts++
	lose := l.lose[l.puts]
	l.mu.Unlock()
	if lose {
		resp.Body.Close()
		return nil, errors.New("connection reset by peer (the test lost the answer)")
	}
	return resp, nil
}

func TestPostBluesky(t *testing.T) {
	srv := pds.Start(t)
	small := picture(t, 40, 30, false)
	big := picture(t, 700, 700, true)
	if len(big) <= bluesky.MaxImageSize {
		t.Fatalf("the big picture is %d bytes: it tests nothing", len(big))
	}

	t.Run("threads with a picture, a link card and a content warning, once", func(t *testing.T) {
		e := newSkyEnv(t, srv, nil)
		reader := &limitsSeen{pictures: pictures{"small.png": {Name: "small.png", Type: "image/png", Data: small}}}
		e.d.Images = reader
		pic := article("sky-picture", epoch.Add(-2*time.Hour), "Ships are back in the harbour, 日本の船 too.", "The quays are safe, the city says. https://news.example/quays/report-with-a-very-long-path-that-bluesky-shortens")
		pic.Image = &syndicate.Image{Path: "small.png", Alt: "Ships at the quay at dawn"}
		pic.Tags = []string{"Harbour"}
		warned := article("sky-warned", epoch.Add(-time.Hour), "A point about the vote.")
		warned.ContentWarning = "local politics"
		warned.Body = []string{"The council voted at dawn after a night of debate."}
		rep := e.post(t, warned, pic)
		if got, want := fmt.Sprint(rep.Finished), "[sky-picture sky-warned]"; got != want || rep.Network != syndicate.NetworkBluesky {
			t.Fatalf("finished %s on %q, want %s on bluesky", got, rep.Network, want)
		}
		if fmt.Sprint(reader.limits) != fmt.Sprint([]int64{files.MaxImageSize}) {
			t.Errorf("the picture was read with limits %v, want %d: Bluesky shrinks a larger one itself", reader.limits, files.MaxImageSize)
		}
		pt := e.thread(t, "sky-picture")
		if len(pt) != 3 {
			t.Fatalf("%d posts, want 3", len(pt))
		}
		head := pt[0]
		if head.Embed == nil || head.Embed.Type != "app.bsky.embed.images" || len(head.Embed.Images) != 1 {
			t.Fatalf("the head's embed = %+v, want the picture", head.Embed)
		}
		if img := head.Embed.Images[0]; img.Alt != "Ships at the quay at dawn" || img.AspectRatio.Width != 40 || img.AspectRatio.Height != 30 || img.Image.MimeType != "image/png" {
			t.Errorf("the picture = %+v", img)
		}
		if !strings.Contains(head.Text, "#Harbour") || head.Langs[0] != "en" {
			t.Errorf("head = %+v", head)
		}
		for i, p := range pt[1:] {
			if p.Embed != nil {
				t.Errorf("reply %d embeds %+v", i+1, p.Embed)
			}
		}
		wt := e.thread(t, "sky-warned")
		if len(wt) != 2 {
			t.Fatalf("%d posts, want 2", len(wt))
		}
		if c := wt[0].Embed; c == nil || c.Type != "app.bsky.embed.external" || c.External.URI != warned.URL || c.External.Title != warned.Title ||
			c.External.Description != "The council voted at dawn after a night of debate." {
			t.Errorf("the link card = %+v", wt[0].Embed)
		}
		for i, p := range wt {
			if !strings.HasPrefix(p.Text, "CW: local politics\n\n") {
				t.Errorf("post %d = %q, want the warning first", i+1, p.Text)
			}
		}
		// A second run finds everything posted and sends nothing.
		before := len(srv.ListRecords(t, postCollection))
		if again := e.post(t, warned, pic); again.Posts != 0 || len(again.Finished) != 0 {
			t.Errorf("second run: %+v", again)
		}
		if n := len(srv.ListRecords(t, postCollection)); n != before {
			t.Errorf("%d records after the second run, %d before", n, before)
		}
		records, err := e.st.ArticleRecords(context.Background(), syndicate.NetworkBluesky)
		if err != nil || records["sky-picture"].State != syndicate.StatePosted || !strings.HasPrefix(records["sky-picture"].HeadURL, "https://bsky.app/profile/") {
			t.Errorf("records = %+v, %v", records, err)
		}
		if m, _ := e.st.ArticleRecords(context.Background(), syndicate.NetworkMastodon); len(m) != 0 {
			t.Errorf("Mastodon records = %v, want none", m)
		}
	})

	t.Run("a picture over 1,000,000 bytes is shrunk to fit", func(t *testing.T) {
		e := newSkyEnv(t, srv, nil)
		e.d.Images = pictures{"big.png": {Name: "big.png", Type: "image/png", Data: big}}
		a := article("sky-big-picture", epoch.Add(-time.Hour), "A point.")
		a.Image = &syndicate.Image{Path: "big.png", Alt: "Noise"}
		if rep := e.post(t, a); len(rep.Finished) != 1 || len(rep.Unpictured) != 0 {
			t.Fatalf("report %+v", rep)
		}
		head := e.thread(t, a.ID)[0]
		if head.Embed == nil || len(head.Embed.Images) != 1 {
			t.Fatalf("embed = %+v, want the picture", head.Embed)
		}
		if img := head.Embed.Images[0].Image; img.MimeType != "image/jpeg" || img.Size > bluesky.MaxImageSize || img.Size == 0 {
			t.Errorf("the blob = %+v, want a JPEG of at most %d bytes", img, bluesky.MaxImageSize)
		}
	})

	t.Run("a picture the network cannot take: the post goes without it, with its card", func(t *testing.T) {
		e := newSkyEnv(t, srv, nil)
		e.d.Outlet = noPictures{e.client}
		e.d.Images = pictures{"small.png": {Name: "small.png", Type: "image/png", Data: small}}
		a := article("sky-no-picture", epoch.Add(-time.Hour), "A point.")
		a.Image = &syndicate.Image{Path: "small.png", Alt: "Ships"}
		rep := e.post(t, a)
		if len(rep.Finished) != 1 || len(rep.Unpictured) != 1 || !strings.Contains(rep.Unpictured[0].Reason, "posted without its picture small.png") {
			t.Fatalf("report %+v", rep)
		}
		if !strings.Contains(e.log.String(), "the network cannot take the picture") {
			t.Errorf("not logged:\n%s", e.log)
		}
		if head := e.thread(t, a.ID)[0]; head.Embed == nil || head.Embed.External == nil || head.Embed.External.URI != a.URL {
			t.Errorf("embed = %+v, want the link card", head.Embed)
		}
	})

	t.Run("a lost answer is found under its key, not posted again", func(t *testing.T) {
		lose := &loseAnswer{base: http.DefaultTransport.(*http.Transport).Clone(), lose: map[int]bool{2: true, 3: true}}
		e := newSkyEnv(t, srv, lose)
		before := len(srv.ListRecords(t, postCollection))
		a := article("sky-lost-answers", epoch.Add(-time.Hour), "One.", "Two.", "Three.")
		if rep := e.post(t, a); len(rep.Finished) != 1 || rep.Posts != 4 {
			t.Fatalf("report %+v", rep)
		}
		if n := len(srv.ListRecords(t, postCollection)) - before; n != 4 {
			t.Errorf("%d new records, want 4 (none twice)", n)
		}
		e.thread(t, a.ID)
		if !strings.Contains(e.log.String(), "found a post whose outcome was unknown") {
			t.Errorf("the lost answers were not settled by looking:\n%s", e.log)
		}
	})

	t.Run("a run that died with a post in doubt: the next finds it and goes on", func(t *testing.T) {
		lose := &loseAnswer{base: http.DefaultTransport.(*http.Transport).Clone(), lose: map[int]bool{2: true}}
		e := newSkyEnv(t, srv, lose)
		e.d.Retries = 0 // the run ends at the lost answer, as if killed
		before := len(srv.ListRecords(t, postCollection))
		a := article("sky-in-doubt", epoch.Add(-time.Hour), "One.", "Two.", "Three.")
		if _, err := job.Post(context.Background(), e.d, []*syndicate.Article{a}); err == nil || errors.Is(err, syndicate.ErrRejected) {
			t.Fatalf("the run with a lost answer: %v", err)
		}
		posts, err := e.st.PlannedPosts(context.Background(), syndicate.NetworkBluesky, a.ID)
		if err != nil || len(posts) != 4 || posts[0].StatusID == "" || posts[1].StatusID != "" || posts[1].AttemptedAt.IsZero() {
			t.Fatalf("the ledger after the lost answer: %+v, %v", posts, err)
		}
		inDoubt := posts[1]
		if n := len(srv.ListRecords(t, postCollection)) - before; n != 2 {
			t.Fatalf("%d new records, want 2 (the head and the post in doubt)", n)
		}
		// The next run (a new client, as a new process would have).
		next := newSkyEnv(t, srv, nil)
		next.st, next.d.Ledger = e.st, e.st
		if rep := next.post(t, a); len(rep.Finished) != 1 || rep.Posts != 3 {
			t.Fatalf("the next run: %+v", rep)
		}
		if n := len(srv.ListRecords(t, postCollection)) - before; n != 4 {
			t.Errorf("%d new records, want 4 (none twice, none missing)", n)
		}
		posts, _ = e.st.PlannedPosts(context.Background(), syndicate.NetworkBluesky, a.ID)
		if posts[1].RecordKey != inDoubt.RecordKey || !posts[1].CreatedAt.Equal(inDoubt.CreatedAt) {
			t.Errorf("the post in doubt became %+v, planned %+v", posts[1], inDoubt)
		}
		next.thread(t, a.ID)
	})
}

// TestPost_TwoNetworksOneLedger: Mastodon and Bluesky share the state,
// each with its own records; a network that refuses the credentials
// stops its own run only, and the article is posted when both are done.
func TestPost_TwoNetworksOneLedger(t *testing.T) {
	srv := pds.Start(t)
	sky := newSkyEnv(t, srv, nil)
	masto := mastotest.New(token)
	defer masto.Close()
	logger, _ := newLog()
	wrong := mastodon.New(mastodon.Options{Server: masto.URL, Token: "wrong", Timeout: 5 * time.Second})
	md := job.PostDeps{Options: postOptions(t, masto.URL), Ledger: sky.st, Outlet: wrong, Log: logger, Retries: 1, Backoff: time.Millisecond}
	a := article("both", epoch.Add(-time.Hour), "One point.")
	networks := []string{syndicate.NetworkMastodon, syndicate.NetworkBluesky}
	state := func() job.State {
		recs, err := job.ReadRecords(context.Background(), sky.st, networks)
		if err != nil {
			t.Fatal(err)
		}
		return job.ClassifyAll(a, recs, epoch, 0)
	}

	if _, err := job.Post(context.Background(), md, []*syndicate.Article{a}); !errors.Is(err, syndicate.ErrUnauthorized) {
		t.Fatalf("Mastodon with a wrong token: %v", err)
	}
	if rep := sky.post(t, a); len(rep.Finished) != 1 {
		t.Fatalf("Bluesky: %+v", rep)
	}
	if got := state(); got != job.Pending {
		t.Errorf("posted on Bluesky alone: %s, want pending (Mastodon has it to do)", got)
	}
	md.Outlet = mastodon.New(mastodon.Options{Server: masto.URL, Token: token, Timeout: 5 * time.Second})
	rep, err := job.Post(context.Background(), md, []*syndicate.Article{a})
	if err != nil || len(rep.Finished) != 1 || rep.Network != syndicate.NetworkMastodon {
		t.Fatalf("Mastodon: %+v, %v", rep, err)
	}
	if got := state(); got != job.Posted {
		t.Errorf("posted on both: %s, want posted", got)
	}
	if n := len(masto.Statuses()); n != 2 {
		t.Errorf("%d Mastodon statuses, want 2", n)
	}
	if again := sky.post(t, a); again.Posts != 0 {
		t.Errorf("Bluesky again: %+v", again)
	}
}
