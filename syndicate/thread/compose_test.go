package thread_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	texttemplate "text/template"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/article"
	"github.com/syndicate-bot/syndicate/syndicate/internal/golden"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
	"github.com/syndicate-bot/syndicate/templates"
)

func options(t testing.TB, limit int) thread.Options {
	t.Helper()
	src, err := templates.Read("", templates.HeadPost)
	if err != nil {
		t.Fatal(err)
	}
	head := texttemplate.Must(texttemplate.New("head").Parse(src))
	lim := syndicate.DefaultLimits()
	lim.MaxCharacters = limit
	return thread.Options{Limits: lim, Numbering: true, Visibility: "public", ReplyVisibility: "unlisted", Language: "en", Head: head}
}

func load(t testing.TB, name string) *syndicate.Article {
	t.Helper()
	a, err := article.LoadFile(filepath.Join("../../articles", name), article.Options{BaseURL: "https://news.example.org/articles/", Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func render(th syndicate.Thread, limit int) string {
	var b strings.Builder
	for i, p := range th.Posts {
		fmt.Fprintf(&b, "--- %d/%d %s %s %d/%d\n", i+1, len(th.Posts), p.Visibility, p.Language, p.Length, limit)
		for _, m := range p.Media {
			fmt.Fprintf(&b, "[media %s | %s]\n", filepath.Base(m.File), m.Description)
		}
		b.WriteString(p.Text + "\n")
	}
	return b.String()
}

func TestCompose_SeedArticle(t *testing.T) {
	a := load(t, "shehbaz-sharif-putin-letters.txt")
	th, err := thread.Compose(a, options(t, 500))
	if err != nil {
		t.Fatal(err)
	}
	// The seed's title is its first key point: the head says it, and the
	// replies are the two other points.
	if got, want := len(th.Posts), 3; got != want {
		t.Fatalf("%d posts, want the head + 2 key points", got)
	}
	head := th.Posts[0].Text
	if !strings.HasPrefix(head, a.Title+"\n\n"+a.URL) || !strings.HasPrefix(a.Title, "Shehbaz Sharif aims to reset") {
		t.Errorf("head post = %q, want the title (first key point) and link", head)
	}
	for i, kp := range a.KeyPoints {
		if got, want := th.Posts[i+1].Text, fmt.Sprintf("%s\n\n%d/3", kp, i+2); got != want {
			t.Errorf("reply %d = %q, want %q", i+1, got, want)
		}
	}
	for _, p := range th.Posts {
		if strings.Contains(p.Text, "white suit") || strings.Contains(p.Text, "Asif HASSAN") {
			t.Errorf("caption or credit in a post: %q", p.Text)
		}
	}
	if th.Posts[0].Visibility != "public" || th.Posts[1].Visibility != "unlisted" {
		t.Errorf("visibilities = %s, %s", th.Posts[0].Visibility, th.Posts[1].Visibility)
	}
}

func TestCompose_Golden(t *testing.T) {
	entries, err := os.ReadDir("../../articles")
	if err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{500, 300} {
		for _, e := range entries {
			if !article.IsArticleFile(e.Name()) {
				continue
			}
			t.Run(fmt.Sprintf("%s-%d", e.Name(), limit), func(t *testing.T) {
				a := load(t, e.Name())
				th, err := thread.Compose(a, options(t, limit))
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range th.Posts {
					if p.Length > limit {
						t.Errorf("post over the limit: %d > %d", p.Length, limit)
					}
				}
				golden.Check(t, fmt.Sprintf("%s.%d.thread", article.ID(e.Name()), limit), []byte(render(th, limit)))
			})
		}
	}
}

func TestCompose_LowerLimitMeansMorePosts(t *testing.T) {
	a := load(t, "city-budget-vote.txt")
	at500, err := thread.Compose(a, options(t, 500))
	if err != nil {
		t.Fatal(err)
	}
	at300, err := thread.Compose(a, options(t, 300))
	if err != nil {
		t.Fatal(err)
	}
	if len(at300.Posts) <= len(at500.Posts) {
		t.Errorf("limit 300 gives %d posts, 500 gives %d: want more at 300", len(at300.Posts), len(at500.Posts))
	}
}

func TestCompose_NumberingWidensAfterSplitting(t *testing.T) {
	// Nine key points that each split in two make 19 posts: the suffix
	// grows from "i/9" to "i/19" and every post must still fit.
	a := &syndicate.Article{ID: "n", Title: "Title", URL: "https://e.org/n"}
	for i := 0; i < 9; i++ {
		a.KeyPoints = append(a.KeyPoints, strings.Repeat("word ", 30)+"end. "+strings.Repeat("more ", 20)+"done.")
	}
	th, err := thread.Compose(a, options(t, 150))
	if err != nil {
		t.Fatal(err)
	}
	n := len(th.Posts)
	if n < 10 {
		t.Fatalf("only %d posts", n)
	}
	for i, p := range th.Posts {
		if p.Length > 150 {
			t.Errorf("post %d counts %d > 150", i+1, p.Length)
		}
		if want := fmt.Sprintf("\n\n%d/%d", i+1, n); !strings.HasSuffix(p.Text, want) {
			t.Errorf("post %d = %q, want suffix %q", i+1, p.Text, want)
		}
	}
}

func TestCompose_LongTitleIsShortened(t *testing.T) {
	a := &syndicate.Article{ID: "t", Title: strings.Repeat("Very long headline words ", 40), URL: "https://e.org/t", Tags: []string{"one", "two"}}
	th, err := thread.Compose(a, options(t, 200))
	if err != nil {
		t.Fatal(err)
	}
	head := th.Posts[0]
	if head.Length > 200 || !strings.Contains(head.Text, "…") || !strings.Contains(head.Text, "https://e.org/t") {
		t.Errorf("head = %q (%d)", head.Text, head.Length)
	}
}

func TestCompose_NoNumberingForASinglePost(t *testing.T) {
	a := &syndicate.Article{ID: "s", Title: "Only a head", URL: "https://e.org/s"}
	th, err := thread.Compose(a, options(t, 500))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := th.Posts[0].Text, "Only a head\n\nhttps://e.org/s"; got != want {
		t.Errorf("head = %q, want %q", got, want)
	}
}

// The lengths Compose reports are what the counter says of the whole
// post text, numbering included.
func TestCompose_LengthsAreExact(t *testing.T) {
	a := &syndicate.Article{ID: "x", Title: "T https://e.org/a", URL: "https://e.org/x",
		KeyPoints: []string{"ends with a link https://e.org/" + strings.Repeat("p", 40), "e\u0301 🇵🇰 @a@b.org", strings.Repeat("word ", 150)}}
	th, err := thread.Compose(a, options(t, 200))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range th.Posts {
		if want := thread.Length(p.ContentWarning, p.Text, 23); p.Length != want {
			t.Errorf("post %d: Length %d, counter says %d", i+1, p.Length, want)
		}
	}
}

// TestCompose_MaxPosts: a 100 KB key point would become hundreds of
// posts; the thread is refused instead, with the count and the key.
func TestCompose_MaxPosts(t *testing.T) {
	a := &syndicate.Article{ID: "flood", Title: "Title", URL: "https://e.org/flood", KeyPoints: []string{strings.Repeat("Word after word. ", 6000)}}
	opts := options(t, 500)
	opts.MaxPosts = 25
	_, err := thread.Compose(a, opts)
	if err == nil || !strings.Contains(err.Error(), "more than mastodon.max_posts_per_thread (25)") {
		t.Fatalf("err = %v, want the thread refused", err)
	}
	// At the cap exactly it is composed.
	a.KeyPoints = []string{"one", "two", "three"}
	opts.MaxPosts = 4
	if th, err := thread.Compose(a, opts); err != nil || len(th.Posts) != 4 {
		t.Errorf("4 posts with a cap of 4: %d posts, %v", len(th.Posts), err)
	}
}

func TestDefang(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Talk to @alice about it", "Talk to @\u200balice about it"},
		{"(@bob@example.social) said", "(@\u200bbob@example.social) said"},
		{"@carol first", "@\u200bcarol first"},
		{"mail bob@example.org", "mail bob@example.org"},
		{"https://medium.com/@dave/story", "https://medium.com/@dave/story"},
		{"a=@x b_@y", "a=@x b_@y"},
		{"@ alone, @@, @.", "@ alone, @@, @."},
		{"@_under", "@\u200b_under"},
		{"no at sign", "no at sign"},
	}
	for _, tt := range tests {
		if got := thread.Defang(tt.in); got != tt.want {
			t.Errorf("Defang(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCompose_FeedItemMentionsNotify(t *testing.T) {
	a := &syndicate.Article{ID: "x", Source: "feed:news", Title: "Ask @alice@example.social", URL: "https://news.example/x", KeyPoints: []string{"Then @bob replied."}}
	th, err := thread.Compose(a, options(t, 500))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range th.Posts {
		if strings.Contains(p.Text, "@alice") || strings.Contains(p.Text, "@bob") {
			t.Errorf("a feed item's post mentions someone: %q", p.Text)
		}
	}
	a.Source = "folder" // the operator's own articles mention whom they mean to
	th, _ = thread.Compose(a, options(t, 500))
	if !strings.Contains(th.Posts[0].Text, "@alice@example.social") {
		t.Errorf("a folder article's mention was changed: %q", th.Posts[0].Text)
	}
}

// blueskyOptions are the settings a Bluesky thread is composed with: the
// lexicon's limits and counting, the warning folded into the text, a link
// card on the head post, every post public.
func blueskyOptions(t testing.TB) thread.Options {
	t.Helper()
	o := options(t, 300)
	o.Limits = syndicate.Limits{MaxCharacters: 300, MaxMedia: 4, DescriptionLimit: 2000, Counting: string(thread.CountBluesky)}
	o.ReplyVisibility, o.Network, o.ContentWarningInText, o.LinkCard = "public", "bluesky", true, true
	return o
}

func renderBluesky(th syndicate.Thread) string {
	var b strings.Builder
	for i, p := range th.Posts {
		shown := thread.BlueskyText(p.Text)
		fmt.Fprintf(&b, "--- %d/%d %s %d/300 (%d code points, %d bytes shown)\n", i+1, len(th.Posts), p.Language, p.Length,
			len([]rune(shown)), len(shown))
		for _, m := range p.Media {
			fmt.Fprintf(&b, "[media %s | %s]\n", filepath.Base(m.File), m.Description)
		}
		if c := p.Card; c != nil {
			fmt.Fprintf(&b, "[card %s | %s | %s]\n", c.URL, c.Title, c.Description)
		}
		b.WriteString(p.Text + "\n")
	}
	return b.String()
}

// TestCompose_BlueskyGolden: every shipped article as a Bluesky thread.
func TestCompose_BlueskyGolden(t *testing.T) {
	entries, err := os.ReadDir("../../articles")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !article.IsArticleFile(e.Name()) {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			th, err := thread.Compose(load(t, e.Name()), blueskyOptions(t))
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range th.Posts {
				if p.Length > 300 || len(thread.BlueskyText(p.Text)) > 3000 {
					t.Errorf("post %d over the limit: %d", i+1, p.Length)
				}
				if (p.Card != nil) != (i == 0) {
					t.Errorf("post %d card %+v, want one on the head only", i+1, p.Card)
				}
			}
			golden.Check(t, article.ID(e.Name())+".bluesky.thread", []byte(renderBluesky(th)))
		})
	}
}

// TestCompose_ContentWarningInText: on a network without a content
// warning of its own, the warning opens every post and counts in it.
func TestCompose_ContentWarningInText(t *testing.T) {
	a := load(t, "city-budget-vote.txt")
	a.ContentWarning = "local politics"
	th, err := thread.Compose(a, blueskyOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	plain := *a
	plain.ContentWarning = ""
	without, err := thread.Compose(&plain, blueskyOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(th.Posts) < len(without.Posts) {
		t.Errorf("%d posts with the warning, %d without", len(th.Posts), len(without.Posts))
	}
	for i, p := range th.Posts {
		if !strings.HasPrefix(p.Text, "CW: local politics\n\n") || p.ContentWarning != "" {
			t.Errorf("post %d = %q (CW %q), want the warning as its first paragraph", i+1, p.Text, p.ContentWarning)
		}
		if got := thread.CountBluesky.Length("", p.Text, 0); got != p.Length || got > 300 {
			t.Errorf("post %d: length %d, counted %d", i+1, p.Length, got)
		}
	}
	// Mastodon keeps it as the post's own warning.
	m, err := thread.Compose(a, options(t, 500))
	if err != nil {
		t.Fatal(err)
	}
	if p := m.Posts[0]; p.ContentWarning != "local politics" || strings.Contains(p.Text, "CW:") || p.Card != nil {
		t.Errorf("Mastodon head = %+v", p)
	}
	a.ContentWarning = strings.Repeat("warning ", 20)
	if _, err := thread.Compose(a, blueskyOptions(t)); err == nil || !strings.Contains(err.Error(), "content warning") {
		t.Errorf("a warning of half a Bluesky post: %v", err)
	}
}

// TestCompose_BlueskyBytes: text of many bytes per grapheme is split by
// Bluesky's 3,000 bytes as well as its 300 graphemes.
func TestCompose_BlueskyBytes(t *testing.T) {
	// A family emoji is one grapheme of 25 bytes: 300 of them are 7,500.
	a := &syndicate.Article{ID: "emoji", Title: "Families", URL: "https://news.example.org/emoji",
		KeyPoints: []string{strings.TrimSpace(strings.Repeat("👨‍👩‍👧‍👦 ", 200))}}
	th, err := thread.Compose(a, blueskyOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(th.Posts) < 3 {
		t.Fatalf("%d posts, want the point split by bytes", len(th.Posts))
	}
	for i, p := range th.Posts {
		if n := len(thread.BlueskyText(p.Text)); n > 3000 || p.Length > 300 {
			t.Errorf("post %d: %d bytes, length %d", i+1, n, p.Length)
		}
	}
	if c := th.Posts[0].Card; c == nil || c.URL != a.URL || c.Title != "Families" || !strings.HasPrefix(c.Description, "👨‍👩‍👧‍👦") {
		t.Errorf("card = %+v, want the URL, title and first key point", c)
	}
}
