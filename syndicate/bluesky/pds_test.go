package bluesky

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/outlettest"
	"github.com/syndicate-bot/syndicate/syndicate/testpeer/pds"
	"github.com/syndicate-bot/syndicate/syndicate/text"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
)

// These tests run against a real PDS (syndicate/testpeer/pds); they skip
// where it is not installed (e2e/pds/install.sh).

// pdsClient is a client of the test PDS's account, its log kept.
func pdsClient(t *testing.T, srv *pds.Server, opt ...func(*Options)) (*Client, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	o := Options{Service: srv.URL, Handle: srv.Handle, AppPassword: srv.AppPassword, Language: "en",
		Timeout: 30 * time.Second, Retries: 2, Backoff: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, f := range opt {
		f(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c, log
}

// stored is a post record as the PDS returns it.
type stored struct {
	Text      string   `json:"text"`
	CreatedAt string   `json:"createdAt"`
	Langs     []string `json:"langs"`
	Facets    []struct {
		Index    struct{ ByteStart, ByteEnd int }
		Features []struct {
			Type string `json:"$type"`
			URI  string `json:"uri"`
			Tag  string `json:"tag"`
		}
	} `json:"facets"`
	Reply *struct {
		Root, Parent struct {
			URI string `json:"uri"`
			CID string `json:"cid"`
		}
	} `json:"reply"`
	Embed *struct {
		Type   string `json:"$type"`
		Images []struct {
			Alt         string `json:"alt"`
			AspectRatio struct{ Width, Height int }
			Image       struct {
				Type string `json:"$type"`
				Ref  struct {
					Link string `json:"$link"`
				}
				MimeType string `json:"mimeType"`
				Size     int    `json:"size"`
			} `json:"image"`
		} `json:"images"`
		External *struct{ URI, Title, Description string } `json:"external"`
	} `json:"embed"`
}

// readBack reads the post st from the PDS.
func readBack(t *testing.T, srv *pds.Server, st syndicate.Status) (pds.Record, stored) {
	t.Helper()
	u, err := syntax.ParseATURI(st.ID)
	if err != nil {
		t.Fatalf("status ID %q: %v", st.ID, err)
	}
	if u.Authority().String() != srv.DID || u.Collection() != postCollection {
		t.Fatalf("status ID %q is not a post of %s", st.ID, srv.DID)
	}
	rec, ok := srv.GetRecord(t, postCollection, u.RecordKey().String())
	if !ok {
		t.Fatalf("no record %s", st.ID)
	}
	if rec.CID != st.CID {
		t.Errorf("record %s has CID %s, the status says %s", st.ID, rec.CID, st.CID)
	}
	var v stored
	if err := json.Unmarshal(rec.Value, &v); err != nil {
		t.Fatalf("record %s: %v", rec.Value, err)
	}
	return rec, v
}

// checkText checks a stored post's text and facets against the planned
// text: the text shown, each link facet over its shortened URL, each tag
// facet over its hashtag.
func checkText(t *testing.T, v stored, planned string) {
	t.Helper()
	if want := thread.BlueskyText(planned); v.Text != want {
		t.Errorf("text %q, want %q", v.Text, want)
	}
	checkStoredFacets(t, v)
	for _, f := range v.Facets {
		if ft := f.Features[0]; ft.URI != "" && !strings.Contains(planned, ft.URI) {
			t.Errorf("link facet %s is not a URL of the planned text", ft.URI)
		}
	}
}

// checkStoredFacets slices the stored text with each facet's byte offsets
// and compares the slice with the shortened URL or the hashtag.
func checkStoredFacets(t *testing.T, v stored) {
	t.Helper()
	for _, f := range v.Facets {
		if f.Index.ByteStart < 0 || f.Index.ByteEnd > len(v.Text) || f.Index.ByteStart >= f.Index.ByteEnd || len(f.Features) != 1 {
			t.Errorf("facet %+v in a text of %d bytes", f, len(v.Text))
			continue
		}
		got := v.Text[f.Index.ByteStart:f.Index.ByteEnd]
		switch ft := f.Features[0]; ft.Type {
		case "app.bsky.richtext.facet#link":
			if got != text.ShortURL(ft.URI) {
				t.Errorf("link facet %s covers %q", ft.URI, got)
			}
		case "app.bsky.richtext.facet#tag":
			if got != "#"+ft.Tag {
				t.Errorf("tag facet %q covers %q", ft.Tag, got)
			}
		default:
			t.Errorf("facet of type %q", ft.Type)
		}
	}
}

func plan(c *Client, now time.Time, texts ...string) []syndicate.PlannedPost {
	ps := make([]syndicate.PlannedPost, len(texts))
	for i, s := range texts {
		ps[i] = syndicate.PlannedPost{Index: i, Text: s}
		c.Plan(&ps[i], now)
	}
	return ps
}

func ref(st syndicate.Status) syndicate.Ref { return syndicate.Ref{ID: st.ID, CID: st.CID} }

// TestPDS runs against one PDS (a start takes seconds, more on a busy
// machine): a thread read back in full, the outlet contract, and a crash
// of the PDS mid-thread, last as it kills the server.
func TestPDS(t *testing.T) {
	srv := pds.Start(t)
	t.Run("thread", func(t *testing.T) { testThread(t, srv) })
	t.Run("contract", func(t *testing.T) { testContract(t, srv) })
	t.Run("crash mid-thread", func(t *testing.T) { testCrashMidThread(t, srv) })
}

func testThread(t *testing.T, srv *pds.Server) {
	c, log := pdsClient(t, srv)
	base := len(srv.ListRecords(t, postCollection))
	ctx := t.Context()
	now := time.Now()

	long := "https://www.example.com/news/2026/12/01/the-harbour-reopens-after-the-storm?ref=syndicate&lang=de"
	ps := plan(c, now,
		"Harbour reopens after the storm https://example.com/news/harbour",
		"Zweiter Punkt: Schiffe aus 日本 und Übersee 🚢 kehren zurück, siehe "+long+" — mehr 👨‍👩‍👧‍👦 später.",
		"The city says the quays are safe #Harbour #Storm2026 #2026",
		"Plain last point.",
	)
	ps[1].Language = "DE" // canonicalised to de

	// The head carries a picture.
	var pngb bytes.Buffer
	png.Encode(&pngb, gradient(300, 200))
	media, err := c.Upload(ctx, syndicate.Picture{Name: "harbour.png", Type: "image/png", Data: pngb.Bytes()}, "The harbour at dawn, ships at the quay")
	if err != nil {
		t.Fatal(err)
	}
	sts := make([]syndicate.Status, len(ps))
	for i, p := range ps {
		var parent, root syndicate.Ref
		var m []string
		switch {
		case i == 0:
			m = []string{media}
		case i == 1:
			parent = ref(sts[0]) // the first reply: root = parent = the head
		default:
			parent, root = ref(sts[i-1]), ref(sts[0])
		}
		if sts[i], err = c.Post(ctx, p, parent, root, m); err != nil {
			t.Fatalf("post %d: %v", i+1, err)
		}
		if want := "https://bsky.app/profile/" + srv.Handle + "/post/" + p.RecordKey; sts[i].URL != want {
			t.Errorf("URL %q, want %q", sts[i].URL, want)
		}
	}
	if got := len(srv.ListRecords(t, postCollection)) - base; got != 4 {
		t.Fatalf("%d new posts on the PDS, want 4", got)
	}

	for i, st := range sts {
		rec, v := readBack(t, srv, st)
		if rec.RKey != ps[i].RecordKey {
			t.Errorf("post %d under key %s, planned %s", i+1, rec.RKey, ps[i].RecordKey)
		}
		checkText(t, v, ps[i].Text)
		if want := ps[i].CreatedAt.UTC().Format(createdAtLayout); v.CreatedAt != want {
			t.Errorf("post %d createdAt %q, want %q", i+1, v.CreatedAt, want)
		}
		wantLang := "en"
		if i == 1 {
			wantLang = "de"
		}
		if len(v.Langs) != 1 || v.Langs[0] != wantLang {
			t.Errorf("post %d langs %q, want [%s]", i+1, v.Langs, wantLang)
		}
		if i == 0 {
			if v.Reply != nil {
				t.Errorf("the head replies to %+v", v.Reply)
			}
			continue
		}
		if v.Reply == nil {
			t.Fatalf("post %d is no reply", i+1)
		}
		if v.Reply.Root.URI != sts[0].ID || v.Reply.Root.CID != sts[0].CID {
			t.Errorf("post %d root %+v, want the head %+v", i+1, v.Reply.Root, sts[0])
		}
		if v.Reply.Parent.URI != sts[i-1].ID || v.Reply.Parent.CID != sts[i-1].CID {
			t.Errorf("post %d parent %+v, want %+v", i+1, v.Reply.Parent, sts[i-1])
		}
	}
	// The facets the PDS holds, in full.
	_, v1 := readBack(t, srv, sts[1])
	if len(v1.Facets) != 1 || v1.Facets[0].Features[0].URI != long {
		t.Errorf("post 2 facets %+v", v1.Facets)
	}
	_, v2 := readBack(t, srv, sts[2])
	var tags []string
	for _, f := range v2.Facets {
		tags = append(tags, f.Features[0].Tag)
	}
	if strings.Join(tags, " ") != "Harbour Storm2026" {
		t.Errorf("post 3 tags %q, want Harbour Storm2026 (#2026 is no tag)", tags)
	}

	// The head's picture: alt text, aspect ratio, and the very bytes.
	_, head := readBack(t, srv, sts[0])
	if head.Embed == nil || head.Embed.Type != "app.bsky.embed.images" || len(head.Embed.Images) != 1 {
		t.Fatalf("head embed %+v", head.Embed)
	}
	img := head.Embed.Images[0]
	if img.Alt != "The harbour at dawn, ships at the quay" || img.AspectRatio.Width != 300 || img.AspectRatio.Height != 200 ||
		img.Image.MimeType != "image/png" || img.Image.Size != pngb.Len() {
		t.Errorf("head image %+v", img)
	}
	if blob, ok := srv.GetBlob(t, img.Image.Ref.Link); !ok || !bytes.Equal(blob, pngb.Bytes()) {
		t.Errorf("blob %s: found %v, %d bytes, want the %d uploaded", img.Image.Ref.Link, ok, len(blob), pngb.Len())
	}

	t.Run("a retry writes nothing and answers the same post", func(t *testing.T) {
		// The picture uploaded again (each attempt of the job uploads
		// it): the same blob, so the same record.
		media2, err := c.Upload(ctx, syndicate.Picture{Name: "harbour.png", Type: "image/png", Data: pngb.Bytes()}, "The harbour at dawn, ships at the quay")
		if err != nil || media2 != media {
			t.Errorf("upload again: %q, %v; want %q", media2, err, media)
		}
		again, err := c.Post(ctx, ps[0], syndicate.Ref{}, syndicate.Ref{}, []string{media2})
		if err != nil || again != sts[0] {
			t.Errorf("head again: %+v, %v; want %+v", again, err, sts[0])
		}
		// The ledger kept only the URIs: the CIDs are read, the record is the same.
		again, err = c.Post(ctx, ps[2], syndicate.Ref{ID: sts[1].ID}, syndicate.Ref{ID: sts[0].ID}, nil)
		if err != nil || again != sts[2] {
			t.Errorf("post 3 again: %+v, %v; want %+v", again, err, sts[2])
		}
		if got := len(srv.ListRecords(t, postCollection)) - base; got != 4 {
			t.Errorf("%d new posts on the PDS, want 4", got)
		}
		if !strings.Contains(log.String(), "a repeat wrote nothing") {
			t.Error("no log line says the repeat wrote nothing")
		}
		st, found, err := c.FindPosted(ctx, ps[3], ref(sts[2]), now)
		if err != nil || !found || st != sts[3] {
			t.Errorf("FindPosted: %+v %v %v; want %+v", st, found, err, sts[3])
		}
		unsent := plan(c, now, "never sent")[0]
		if st, found, err := c.FindPosted(ctx, unsent, ref(sts[3]), now); err != nil || found {
			t.Errorf("FindPosted of a post never sent: %+v %v %v", st, found, err)
		}
	})

	t.Run("another record on a planned key", func(t *testing.T) {
		// The same post with another createdAt (a ledger that lost the
		// milliseconds): InvalidSwap, and the stored post is this one.
		p := ps[3]
		p.CreatedAt = p.CreatedAt.Add(time.Second)
		st, err := c.Post(ctx, p, ref(sts[2]), ref(sts[0]), nil)
		if err != nil || st != sts[3] {
			t.Errorf("same text, other createdAt: %+v, %v; want %+v", st, err, sts[3])
		}
		// Another text on that key: not ours.
		p.Text = "Something else entirely."
		_, err = c.Post(ctx, p, ref(sts[2]), ref(sts[0]), nil)
		if !errors.Is(err, syndicate.ErrRejected) || !strings.Contains(err.Error(), "already holds a different post") {
			t.Errorf("other text: err = %v, want ErrRejected", err)
		}
		if _, found, err := c.FindPosted(ctx, p, ref(sts[2]), now); found || !errors.Is(err, syndicate.ErrRejected) {
			t.Errorf("FindPosted of another text: found %v, err %v", found, err)
		}
		if got := len(srv.ListRecords(t, postCollection)) - base; got != 4 {
			t.Errorf("%d new posts on the PDS, want 4", got)
		}
	})

	t.Run("a link card without a picture", func(t *testing.T) {
		p := plan(c, time.Now(), "Second story https://example.com/news/second")[0]
		p.CardURL, p.CardTitle, p.CardDescription = "https://example.com/news/second", "Second story", "What happened next, in brief."
		st, err := c.Post(ctx, p, syndicate.Ref{}, syndicate.Ref{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, v := readBack(t, srv, st)
		if v.Embed == nil || v.Embed.Type != "app.bsky.embed.external" || v.Embed.External == nil ||
			*v.Embed.External != (struct{ URI, Title, Description string }{p.CardURL, p.CardTitle, p.CardDescription}) {
			t.Errorf("card embed %+v", v.Embed)
		}
	})

	t.Run("a large picture is shrunk to fit", func(t *testing.T) {
		big := noisy(t, 520, 560, true) // 1.2 MB as a PNG
		m, err := c.Upload(ctx, syndicate.Picture{Name: "noise.png", Type: "image/png", Data: big}, "Noise")
		if err != nil {
			t.Fatal(err)
		}
		p := plan(c, time.Now(), "A noisy picture")[0]
		st, err := c.Post(ctx, p, syndicate.Ref{}, syndicate.Ref{}, []string{m})
		if err != nil {
			t.Fatal(err)
		}
		_, v := readBack(t, srv, st)
		if v.Embed == nil || len(v.Embed.Images) != 1 {
			t.Fatalf("embed %+v", v.Embed)
		}
		im := v.Embed.Images[0]
		blob, ok := srv.GetBlob(t, im.Image.Ref.Link)
		if len(big) <= MaxImageSize || !ok || len(blob) > MaxImageSize || im.Image.MimeType != "image/jpeg" || im.Image.Size != len(blob) {
			t.Fatalf("blob: found %v, %d bytes, %+v", ok, len(blob), im.Image)
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(blob))
		if err != nil || format != "jpeg" || cfg.Width != im.AspectRatio.Width || cfg.Height != im.AspectRatio.Height {
			t.Errorf("blob decodes as %s %d×%d (%v), aspect ratio %+v", format, cfg.Width, cfg.Height, err, im.AspectRatio)
		}
	})

	t.Run("an expired session is refreshed, a refused refresh logs in again", func(t *testing.T) {
		c.mu.Lock()
		old := c.sess
		c.sess.access = srv.ExpireToken(t, old.access)
		c.mu.Unlock()
		p := plan(c, time.Now(), "After the access token expired")[0]
		if _, err := c.Post(ctx, p, ref(sts[3]), ref(sts[0]), nil); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(log.String(), "session refreshed") {
			t.Error("no refresh logged")
		}
		c.mu.Lock()
		c.sess.access, c.sess.refresh = srv.ExpireToken(t, c.sess.access), srv.ExpireToken(t, c.sess.refresh)
		c.mu.Unlock()
		p = plan(c, time.Now(), "After both tokens expired")[0]
		if _, err := c.Post(ctx, p, syndicate.Ref{}, syndicate.Ref{}, nil); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(log.String(), "logging in again") {
			t.Error("no second login logged")
		}
	})

	t.Run("301 graphemes are rejected", func(t *testing.T) {
		p := plan(c, time.Now(), strings.Repeat("é", 301))[0]
		_, err := c.Post(ctx, p, syndicate.Ref{}, syndicate.Ref{}, nil)
		if !errors.Is(err, syndicate.ErrRejected) || !strings.Contains(err.Error(), "grapheme too big (maximum 300, got 301)") {
			t.Errorf("err = %v, want ErrRejected: grapheme too big", err)
		}
		p = plan(c, time.Now(), strings.Repeat("é", 300))[0]
		if _, err := c.Post(ctx, p, syndicate.Ref{}, syndicate.Ref{}, nil); err != nil {
			t.Errorf("300 graphemes: %v", err)
		}
	})

	t.Run("no secret in any error or log line", func(t *testing.T) {
		c.mu.Lock()
		tokens := []string{c.sess.access, c.sess.refresh}
		c.mu.Unlock()
		bad, badLog := pdsClient(t, srv, func(o *Options) { o.AppPassword = "wrong-pass-word-1234" })
		_, _, err := bad.Session(ctx)
		if !errors.Is(err, syndicate.ErrUnauthorized) || !strings.Contains(err.Error(), "Invalid identifier or password") {
			t.Errorf("err = %v, want ErrUnauthorized", err)
		}
		out := err.Error() + badLog.String() + log.String()
		if found := secretsIn(out, append(tokens, "wrong-pass-word-1234", srv.AppPassword, srv.Password)...); len(found) > 0 {
			t.Errorf("%d secrets in the errors and logs", len(found))
		}
		// Every session token is a JWT ("eyJ…"): none, of any session, is in the logs.
		if strings.Contains(out, "eyJ") {
			t.Error("a JWT is in the errors or logs")
		}
	})
}

// loseAnswers is a transport that, while armed, passes each putRecord to
// the PDS and then drops its answer, as a connection cut after the
// server acted would.
type loseAnswers struct {
	base http.RoundTripper
	mu   sync.Mutex
	arm  int // answers still to lose
}

func (l *loseAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/com.atproto.repo.putRecord") {
		return resp, err
	}
	l.mu.Lock()
	lose := l.arm > 0
	if lose {
		l.arm--
	}
	l.mu.Unlock()
	if lose {
		resp.Body.Close()
		return nil, errors.New("connection reset by peer (the test lost the answer)")
	}
	return resp, nil
}

func testCrashMidThread(t *testing.T, srv *pds.Server) {
	base := len(srv.ListRecords(t, postCollection))
	lose := &loseAnswers{base: http.DefaultTransport.(*http.Transport).Clone()}
	c, log := pdsClient(t, srv, func(o *Options) { o.Transport = lose; o.Retries = 0 })
	ctx := t.Context()
	ps := plan(c, time.Now(), "Crash test head https://example.com/crash", "Reply one", "Reply two", "Reply three")
	var sts [4]syndicate.Status
	var err error
	post := func(i int) (syndicate.Status, error) {
		if i == 0 {
			return c.Post(ctx, ps[0], syndicate.Ref{}, syndicate.Ref{}, nil)
		}
		return c.Post(ctx, ps[i], ref(sts[i-1]), ref(sts[0]), nil)
	}
	if sts[0], err = post(0); err != nil {
		t.Fatal(err)
	}
	// Reply one is written, its answer lost: the outcome is unknown.
	lose.mu.Lock()
	lose.arm = 1
	lose.mu.Unlock()
	_, err = post(1)
	if err == nil || errors.Is(err, syndicate.ErrRejected) || errors.Is(err, syndicate.ErrUnauthorized) {
		t.Fatalf("lost answer: err = %v, want a transient error", err)
	}
	// The PDS dies; a post meanwhile fails, transiently.
	srv.Kill()
	if _, err := post(1); err == nil || errors.Is(err, syndicate.ErrRejected) || errors.Is(err, syndicate.ErrUnauthorized) {
		t.Fatalf("PDS down: err = %v, want a transient error", err)
	}
	srv.Restart(t)
	// The post in doubt is found where it was planned, and sent again it
	// is the same post.
	st, found, err := c.FindPosted(ctx, ps[1], ref(sts[0]), time.Now())
	if err != nil || !found {
		t.Fatalf("FindPosted after the restart: %v %v", found, err)
	}
	if sts[1], err = post(1); err != nil || sts[1] != st {
		t.Fatalf("reply one again: %+v %v; want %+v", sts[1], err, st)
	}
	for i := 2; i < 4; i++ {
		if sts[i], err = post(i); err != nil {
			t.Fatalf("post %d: %v", i+1, err)
		}
	}
	if got := len(srv.ListRecords(t, postCollection)) - base; got != 4 {
		t.Fatalf("%d new posts on the PDS, want 4 (no duplicate)", got)
	}
	for i := 1; i < 4; i++ {
		_, v := readBack(t, srv, sts[i])
		if v.Reply == nil || v.Reply.Parent.URI != sts[i-1].ID || v.Reply.Parent.CID != sts[i-1].CID || v.Reply.Root.URI != sts[0].ID {
			t.Errorf("post %d: reply %+v, want parent %s and root %s", i+1, v.Reply, sts[i-1].ID, sts[0].ID)
		}
		checkText(t, v, ps[i].Text)
	}
	t.Logf("log:\n%s", log)
}

func testContract(t *testing.T, srv *pds.Server) {
	c, _ := pdsClient(t, srv)
	outlettest.OutletContract(t, c, outlettest.Peer{
		ReadBack: func(t *testing.T, st syndicate.Status) (string, string) {
			_, v := readBack(t, srv, st)
			checkStoredFacets(t, v) // the text is compared by the suite
			parent := ""
			if v.Reply != nil {
				parent = v.Reply.Parent.URI
			}
			return v.Text, parent
		},
		Count: func(t *testing.T) int { return len(srv.ListRecords(t, postCollection)) },
		Shown: thread.BlueskyText,
		Exists: func(t *testing.T, st syndicate.Status) bool {
			for _, r := range srv.ListRecords(t, postCollection) {
				if r.URI == st.ID {
					return true
				}
			}
			return false
		},
	})
}

// TestPDS_RateLimit: with its limits on, the PDS allows 30 logins per
// handle in 5 minutes; the next is a 429 whose RateLimit-Reset is minutes
// away, beyond what this client waits (a second): ErrRateLimited, neither
// a rejection nor a refused login, with no wait.
func TestPDS_RateLimit(t *testing.T) {
	srv := pds.Start(t, pds.WithRateLimits())
	for i := range 40 {
		c, log := pdsClient(t, srv, func(o *Options) { o.MaxRateWait = time.Second })
		_, _, err := c.Session(t.Context())
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrRateLimited) || errors.Is(err, syndicate.ErrRejected) || errors.Is(err, syndicate.ErrUnauthorized) {
			t.Fatalf("login %d: err = %v, want ErrRateLimited", i+1, err)
		}
		if i < 30 || !strings.Contains(err.Error(), "RateLimitExceeded") {
			t.Errorf("login %d: %v", i+1, err)
		}
		if strings.Contains(log.String(), "waiting for the reset") {
			t.Error("waited for a reset beyond MaxRateWait")
		}
		t.Logf("login %d: %v", i+1, err)
		return
	}
	t.Fatal("40 logins and no rate limit")
}
