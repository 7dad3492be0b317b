package bluesky

import (
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/text"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
)

// facet is a facet as a test reads it.
type facet struct {
	Start, End int
	Kind       string // link or tag
	Value      string // the URI or the tag
}

func facetsOf(t *testing.T, post string) (string, []facet) {
	t.Helper()
	visible, fs := Render(post)
	var out []facet
	for _, f := range fs {
		if len(f.Features) != 1 {
			t.Fatalf("facet with %d features", len(f.Features))
		}
		ft := f.Features[0]
		switch {
		case ft.RichtextFacet_Link != nil:
			out = append(out, facet{int(f.Index.ByteStart), int(f.Index.ByteEnd), "link", ft.RichtextFacet_Link.Uri})
		case ft.RichtextFacet_Tag != nil:
			out = append(out, facet{int(f.Index.ByteStart), int(f.Index.ByteEnd), "tag", ft.RichtextFacet_Tag.Tag})
		default:
			t.Fatalf("facet of another kind: %+v", ft)
		}
	}
	return visible, out
}

func TestRender_ByteOffsets(t *testing.T) {
	const long = "https://www.example.com/news/2026/12/01/a-very-long-article-slug-that-goes-on?utm_source=x"
	tests := []struct {
		name    string
		post    string
		visible string
		facets  []facet
	}{
		{"plain", "Just words, é and 日本.", "Just words, é and 日本.", nil},
		{"accent before a URL, CJK before a tag",
			"é https://example.com/a 日本 #tag 👨‍👩‍👧‍👦",
			"é example.com/a 日本 #tag 👨‍👩‍👧‍👦",
			// é is 2 bytes: the link starts at 3; " 日本 " is 8 bytes.
			[]facet{{3, 16, "link", "https://example.com/a"}, {24, 28, "tag", "tag"}}},
		{"a long URL shortened to 30 runes and an ellipsis, between emoji",
			"👍🏽 Read " + long + " 🎉",
			"👍🏽 Read example.com/news/2026/12/01/a-… 🎉",
			// 👍🏽 is 8 bytes; "example.com/news/2026/12/01/a-" is 30 bytes, "…" 3.
			[]facet{{14, 47, "link", long}}},
		{"ZWJ family inside a hashtag's neighbourhood and a non-ASCII tag",
			"👨‍👩‍👧‍👦 #Familie\n#café https://日本.example/パス.",
			"👨‍👩‍👧‍👦 #Familie\n#café 日本.example/パス.",
			// The family is 25 bytes; "#café" 6, "日本.example/パス" 21; the URL's trailing "." is not part of it.
			[]facet{{26, 34, "tag", "Familie"}, {35, 41, "tag", "café"}, {42, 63, "link", "https://日本.example/パス"}}},
		{"digits-only and in-word hashtags stay text; remote mentions too",
			"#2026 a#b @someone@example.social #ok",
			"#2026 a#b @someone@example.social #ok",
			[]facet{{34, 37, "tag", "ok"}}},
		{"a URL at the very start and end",
			"http://a.example https://b.example/x",
			"a.example b.example/x",
			[]facet{{0, 9, "link", "http://a.example"}, {10, 21, "link", "https://b.example/x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			visible, fs := facetsOf(t, tt.post)
			if visible != tt.visible {
				t.Errorf("visible = %q, want %q", visible, tt.visible)
			}
			if want := thread.BlueskyText(tt.post); visible != want {
				t.Errorf("visible = %q, thread.BlueskyText = %q", visible, want)
			}
			if !reflect.DeepEqual(fs, tt.facets) {
				t.Errorf("facets = %+v, want %+v", fs, tt.facets)
			}
			checkFacets(t, visible, fs)
		})
	}
}

// checkFacets slices the UTF-8 text with each facet's offsets and compares
// it with what the facet says it covers.
func checkFacets(t *testing.T, visible string, fs []facet) {
	t.Helper()
	for _, f := range fs {
		if f.Start < 0 || f.End > len(visible) || f.Start >= f.End {
			t.Errorf("facet %+v out of the text's %d bytes", f, len(visible))
			continue
		}
		got := visible[f.Start:f.End]
		switch f.Kind {
		case "link":
			if want := text.ShortURL(f.Value); got != want {
				t.Errorf("link facet covers %q, want %q", got, want)
			}
		case "tag":
			if got != "#"+f.Value {
				t.Errorf("tag facet covers %q, want %q", got, "#"+f.Value)
			}
		}
	}
}

func TestRender_TagLimits(t *testing.T) {
	long := strings.Repeat("a", 65)
	if _, fs := facetsOf(t, "#"+long); len(fs) != 0 {
		t.Errorf("a 65-grapheme tag made a facet: %+v", fs)
	}
	if _, fs := facetsOf(t, "#"+long[:64]); len(fs) != 1 {
		t.Errorf("a 64-grapheme tag made %d facets", len(fs))
	}
}

// FuzzRender: whatever the text, the visible text is BlueskyText's and
// every facet covers what it says.
func FuzzRender(f *testing.F) {
	for _, s := range []string{"é https://example.com/a 日本 #tag", "#x#y https://a.b/(c)) #é́", "👨‍👩‍👧‍👦https://x.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		visible, fs := facetsOf(t, s)
		if want := thread.BlueskyText(s); visible != want {
			t.Fatalf("visible = %q, thread.BlueskyText = %q", visible, want)
		}
		checkFacets(t, visible, fs)
		if !sort.SliceIsSorted(fs, func(i, j int) bool { return fs[i].Start < fs[j].Start }) {
			t.Fatalf("facets out of order: %+v", fs)
		}
	})
}

func TestNextTID(t *testing.T) {
	now := time.Date(2026, 12, 1, 19, 0, 0, 0, time.UTC)
	var keys []string
	for i := range 1000 {
		at := now
		if i%3 == 2 {
			at = now.Add(-time.Hour) // the clock went back: still later keys
		}
		keys = append(keys, NextTID(at))
	}
	seen := map[string]bool{}
	for i, k := range keys {
		if _, err := syntax.ParseTID(k); err != nil || len(k) != 13 {
			t.Fatalf("key %q: %v", k, err)
		}
		if seen[k] {
			t.Fatalf("key %q made twice", k)
		}
		seen[k] = true
		if i > 0 && k <= keys[i-1] {
			t.Fatalf("key %d %q sorts before key %d %q", i, k, i-1, keys[i-1])
		}
	}
	// The key is the planning time.
	later := NextTID(now.Add(24 * time.Hour))
	if got := syntax.TID(later).Time(); !got.Equal(now.Add(24 * time.Hour)) {
		t.Errorf("key time = %v, want %v", got, now.Add(24*time.Hour))
	}
}

func TestPlan(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	now := time.Date(2026, 12, 1, 20, 0, 0, 123456789, time.FixedZone("CET", 3600))
	var p syndicate.PlannedPost
	c.Plan(&p, now)
	if _, err := syntax.ParseTID(p.RecordKey); err != nil {
		t.Errorf("record key %q: %v", p.RecordKey, err)
	}
	if want := time.Date(2026, 12, 1, 19, 0, 0, 123000000, time.UTC); !p.CreatedAt.Equal(want) || p.CreatedAt.Location() != time.UTC {
		t.Errorf("createdAt = %v, want %v", p.CreatedAt, want)
	}
	// Planned once: a second Plan keeps both.
	key, at := p.RecordKey, p.CreatedAt
	c.Plan(&p, now.Add(time.Hour))
	if p.RecordKey != key || !p.CreatedAt.Equal(at) {
		t.Errorf("Plan changed a planned post: %q %v", p.RecordKey, p.CreatedAt)
	}
	var q syndicate.PlannedPost
	c.Plan(&q, now)
	if q.RecordKey <= p.RecordKey {
		t.Errorf("second post's key %q is not after the first's %q", q.RecordKey, p.RecordKey)
	}
	if c.Network() != "bluesky" {
		t.Errorf("network %q", c.Network())
	}
	lim, err := c.Limits(t.Context())
	want := syndicate.Limits{MaxCharacters: 300, MaxMedia: 4, DescriptionLimit: 2000, ImageSizeLimit: 1_000_000,
		ImageTypes: []string{"image/png", "image/jpeg", "image/webp", "image/gif"}, Counting: "bluesky", Software: "atproto", ShrinksImages: true}
	if err != nil || !reflect.DeepEqual(lim, want) {
		t.Errorf("limits = %+v, %v; want %+v", lim, err, want)
	}
	if thread.Counting(lim.Counting) != thread.CountBluesky {
		t.Errorf("counting %q is not thread.CountBluesky", lim.Counting)
	}
}

const (
	headURI = "at://did:plc:abcdefghijklmnopqrstuvwx/app.bsky.feed.post/3lbcdefghij22"
	headCID = "bafyreie7fzwthi3rp3ucmnj2ibf2iymndlxlnb4226jwxtuo2x2gqfesju"
	prevURI = "at://did:plc:abcdefghijklmnopqrstuvwx/app.bsky.feed.post/3lbcdefghij23"
	prevCID = "bafyreiee7wn2ymz226ivinecsyqe7j7yyu32s3qita7f645t6wwkr2hn64"
	blobRef = `{"alt":"A harbour at dawn","aspectRatio":{"height":200,"width":300},"image":{"$type":"blob","ref":{"$link":"bafkreih2fsgmj4ubo2565vfxg3pvngruy6ong4r6t3cc7ftuwtkgvrvyxa"},"mimeType":"image/png","size":1234}}`
)

func TestRecord_SameBytes(t *testing.T) {
	at := time.Date(2026, 12, 1, 19, 0, 0, 123000000, time.UTC)
	p := syndicate.PlannedPost{Index: 2, Text: "Zweiter Punkt: é https://example.com/a #Hafen", Language: "DE-de",
		RecordKey: "3lbcdefghij24", CreatedAt: at}
	parent, root := syndicate.Ref{ID: prevURI, CID: prevCID}, syndicate.Ref{ID: headURI, CID: headCID}
	a, err := Record(p, parent, root, nil, "en")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"$type":"app.bsky.feed.post","createdAt":"2026-12-01T19:00:00.123Z",` +
		`"facets":[{"features":[{"$type":"app.bsky.richtext.facet#link","uri":"https://example.com/a"}],"index":{"byteEnd":31,"byteStart":18}},` +
		`{"features":[{"$type":"app.bsky.richtext.facet#tag","tag":"Hafen"}],"index":{"byteEnd":38,"byteStart":32}}],` +
		`"langs":["de-DE"],` +
		`"reply":{"parent":{"cid":"` + prevCID + `","uri":"` + prevURI + `"},"root":{"cid":"` + headCID + `","uri":"` + headURI + `"}},` +
		`"text":"Zweiter Punkt: é example.com/a #Hafen"}`
	if string(a) != want {
		t.Errorf("record:\n got %s\nwant %s", a, want)
	}
	// The same post, its time read back from a ledger in another zone and
	// with nanoseconds below the millisecond: the very same bytes.
	p2 := p
	p2.CreatedAt = at.In(time.FixedZone("X", -5*3600)).Add(456 * time.Nanosecond)
	b, err := Record(p2, parent, root, nil, "en")
	if err != nil || string(b) != string(a) {
		t.Errorf("second rendering differs:\n%s\n%s (%v)", a, b, err)
	}

	// A head post with a picture, and one with a card.
	head := syndicate.PlannedPost{Text: "Headline https://example.com/a", RecordKey: "3lbcdefghij22", CreatedAt: at,
		CardURL: "https://example.com/a", CardTitle: "Headline", CardDescription: "What happened"}
	img1, err := Record(head, syndicate.Ref{}, syndicate.Ref{}, []string{blobRef}, "")
	if err != nil {
		t.Fatal(err)
	}
	img2, _ := Record(head, syndicate.Ref{}, syndicate.Ref{}, []string{blobRef}, "")
	if string(img1) != string(img2) {
		t.Errorf("image records differ:\n%s\n%s", img1, img2)
	}
	if !strings.Contains(string(img1), `"embed":{"$type":"app.bsky.embed.images","images":[`+blobRef+`]}`) {
		t.Errorf("image embed: %s", img1)
	}
	card, err := Record(head, syndicate.Ref{}, syndicate.Ref{}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(card), `"embed":{"$type":"app.bsky.embed.external","external":{"description":"What happened","title":"Headline","uri":"https://example.com/a"}}`) {
		t.Errorf("card embed: %s", card)
	}
	// The first reply: root = parent = the head.
	first, err := Record(syndicate.PlannedPost{Index: 1, Text: "one", RecordKey: "3lbcdefghij23", CreatedAt: at},
		syndicate.Ref{ID: headURI, CID: headCID}, syndicate.Ref{}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Reply struct{ Root, Parent struct{ URI, CID string } }
	}
	if err := json.Unmarshal(first, &rec); err != nil || rec.Reply.Root != rec.Reply.Parent || rec.Reply.Root.URI != headURI {
		t.Errorf("first reply: %s (%v)", first, err)
	}
}

func TestRecord_Refusals(t *testing.T) {
	at := time.Date(2026, 12, 1, 19, 0, 0, 0, time.UTC)
	ok := syndicate.PlannedPost{Text: "x", RecordKey: "3lbcdefghij22", CreatedAt: at}
	tests := []struct {
		name           string
		p              syndicate.PlannedPost
		parent, root   syndicate.Ref
		media          []string
		want           string
		notRejectedErr bool
	}{
		{"not planned", syndicate.PlannedPost{Text: "x"}, syndicate.Ref{}, syndicate.Ref{}, nil, "not planned", false},
		{"content warning", func() syndicate.PlannedPost { p := ok; p.ContentWarning = "spoilers"; return p }(), syndicate.Ref{}, syndicate.Ref{}, nil, "content warning", false},
		{"language", func() syndicate.PlannedPost { p := ok; p.Language = "not a language"; return p }(), syndicate.Ref{}, syndicate.Ref{}, nil, "language", false},
		{"no CID", ok, syndicate.Ref{ID: headURI}, syndicate.Ref{}, nil, "no valid CID", false},
		{"not an at URI", ok, syndicate.Ref{ID: "12345", CID: headCID}, syndicate.Ref{}, nil, "not an at:// URI", false},
		{"five pictures", ok, syndicate.Ref{}, syndicate.Ref{}, []string{blobRef, blobRef, blobRef, blobRef, blobRef}, "at most 4", false},
		{"not a blob", ok, syndicate.Ref{}, syndicate.Ref{}, []string{"12345"}, "not what Upload returned", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Record(tt.p, tt.parent, tt.root, tt.media, "")
			if !errors.Is(err, syndicate.ErrRejected) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrRejected with %q", err, tt.want)
			}
		})
	}
}

func TestCanonicalLanguage(t *testing.T) {
	for in, want := range map[string]string{"en": "en", "EN": "en", "en-us": "en-US", "pt-BR": "pt-BR", "zh-hant-tw": "zh-Hant-TW"} {
		got, err := canonicalLanguage(in)
		if err != nil || got != want {
			t.Errorf("canonicalLanguage(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "a", "xx-bogus-tag-that-is-long", "en_US!"} {
		if got, err := canonicalLanguage(in); err == nil {
			t.Errorf("canonicalLanguage(%q) = %q, want an error", in, got)
		}
	}
}
