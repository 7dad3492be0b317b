package digest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/article"
	"github.com/syndicate-bot/syndicate/syndicate/config"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
	"github.com/syndicate-bot/syndicate/syndicate/internal/golden"
	"github.com/syndicate-bot/syndicate/syndicate/job"
)

var day = time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC)

// sampleArticles are the shipped articles with fixed modification times,
// so the order does not depend on when the files were checked out.
func sampleArticles(t *testing.T) []*syndicate.Article {
	t.Helper()
	set, err := article.LoadDir("../../articles", article.Options{BaseURL: "https://news.example.org/articles/", Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range set.Articles {
		a.ModTime = day.Add(-time.Duration(i+1) * time.Hour)
	}
	return set.Articles
}

func renderer(t *testing.T) *digest.Renderer {
	t.Helper()
	r, err := digest.NewRenderer("", config.Default().Email.Subject, "Daily Brief")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mailable is the digest of the sample articles as the digest job would
// choose them (drafts and embargoed ones left out).
func mailable(t testing.TB, articles []*syndicate.Article) digest.Digest {
	t.Helper()
	d, _ := digest.New(job.ForDigest(articles, nil, nil, day, 0), day, 0, digest.Pictures{})
	return d
}

func TestNew_LeavesOutDraftsAndEmbargoes_NewestFirst(t *testing.T) {
	d := mailable(t, sampleArticles(t))
	var ids []string
	for _, it := range d.Articles {
		ids = append(ids, it.ID)
	}
	if got, want := strings.Join(ids, ","), "city-budget-vote,shehbaz-sharif-putin-letters,harbour-library-reopens,north-sea-wind-auction"; got != want {
		t.Errorf("articles = %s\nwant %s", got, want)
	}
}

func TestRender_Golden(t *testing.T) {
	d := mailable(t, sampleArticles(t))
	reader := syndicate.Reader{Email: "ada@example.org", Name: "Ada <Lovelace> & Co"}
	m, err := renderer(t).Render(d, reader, "https://news.example.org/unsubscribe?token=abc.def")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Subject, "Daily Brief: City council passes 2027 budget after all-night session and 3 more"; got != want {
		t.Errorf("subject = %q, want %q", got, want)
	}
	golden.Check(t, "digest.html", []byte(m.HTML))
	golden.Check(t, "digest.txt", []byte(m.Text))
	// The reader's name is text, not markup.
	if strings.Contains(m.HTML, "<Lovelace>") || !strings.Contains(m.HTML, "Ada &lt;Lovelace&gt; &amp; Co") {
		t.Error("reader name not escaped in HTML")
	}
	// The seed's key points are in both parts.
	for _, kp := range []string{"Shehbaz Sharif aims to reset and strengthen Pakistan", "The Pakistani PM also plans to reset ties"} {
		if !strings.Contains(m.Text, kp) || !strings.Contains(m.HTML, strings.ReplaceAll(kp, "'", "&#39;")) {
			t.Errorf("key point %q missing", kp)
		}
	}
}

func TestRender_EscapesArticleText(t *testing.T) {
	d := digest.Digest{Date: day, Articles: []syndicate.DigestItem{{ID: "x", Title: `<script>alert("x")</script>`, URL: "javascript:alert(1)", KeyPoints: []string{"a < b & c"}}}}
	m, err := renderer(t).Render(d, syndicate.Reader{Email: "r@example.org"}, "https://e.org/u")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, `href="javascript:`) {
		t.Errorf("unescaped article text in HTML:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, "a &lt; b &amp; c") {
		t.Error("key point not escaped")
	}
}

func TestRender_SubjectIsOneLine(t *testing.T) {
	r, err := digest.NewRenderer("", "News:\n{{(index .Articles 0).Title}}", "B")
	if err != nil {
		t.Fatal(err)
	}
	d := digest.Digest{Date: day, Articles: []syndicate.DigestItem{{ID: "x", Title: "T"}}}
	m, err := r.Render(d, syndicate.Reader{Email: "r@example.org"}, "https://e.org/u")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Subject, "News: T"; got != want {
		t.Errorf("subject = %q, want %q", got, want)
	}
}

func TestNewRenderer_UserTemplateOverrides(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "digest.txt.tmpl"), []byte("custom {{.Reader.Email}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := digest.NewRenderer(dir, "s", "B")
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.Render(digest.Digest{Date: day}, syndicate.Reader{Email: "r@example.org"}, "u")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Text, "custom r@example.org"; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "digest.html.tmpl"), []byte("{{.Broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := digest.NewRenderer(dir, "s", "B"); err == nil || !strings.Contains(err.Error(), "digest.html.tmpl") {
		t.Errorf("broken template: err = %v, want one naming the file", err)
	}
}

func TestIssue_MatchesExactRendering(t *testing.T) {
	r := renderer(t)
	d := mailable(t, sampleArticles(t))
	is := r.Issue(d)
	readers := []syndicate.Reader{
		{Email: "ada@example.org", Name: "Ada", Fields: map[string]string{"city": "Lisbon"}},
		{Email: "o'neil+news@example.org", Name: `Zoë "Z" <b>&`, Fields: map[string]string{"city": ""}},
		{Email: "plain@example.org"},
		{Email: "ada2@example.org", Name: "Ada"},
	}
	for _, rd := range readers {
		unsub := "https://news.example.org/unsubscribe?token=abc." + rd.Email
		got, err := is.Render(rd, unsub)
		if err != nil {
			t.Fatal(err)
		}
		want, err := r.Render(d, rd, unsub)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: the fast path differs from the templates", rd.Email)
		}
	}
	if is.Exact() {
		t.Error("the shipped templates fell back to exact rendering")
	}
}

func TestIssue_FallsBackForTemplatesThatInspectValues(t *testing.T) {
	dir := t.TempDir()
	tmpl := `{{if eq .Reader.Name "Ada"}}Hi Ada{{else}}Hello {{printf "%.3s" .Reader.Name}}{{end}}`
	if err := os.WriteFile(filepath.Join(dir, "digest.txt.tmpl"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := digest.NewRenderer(dir, "s", "B")
	if err != nil {
		t.Fatal(err)
	}
	d := digest.Digest{Date: day}
	is := r.Issue(d)
	for _, name := range []string{"Ada", "Grace"} {
		got, err := is.Render(syndicate.Reader{Email: "x@example.org", Name: name}, "u")
		if err != nil {
			t.Fatal(err)
		}
		want, _ := r.Render(d, syndicate.Reader{Email: "x@example.org", Name: name}, "u")
		if got.Text != want.Text {
			t.Errorf("%s: got %q, want %q", name, got.Text, want.Text)
		}
	}
	if !is.Exact() {
		t.Error("a template comparing a reader's value did not fall back to exact rendering")
	}
}

func BenchmarkIssue_Render(b *testing.B) {
	set, err := article.LoadDir("../../articles", article.Options{BaseURL: "https://news.example.org/articles/", Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	r, err := digest.NewRenderer("", config.Default().Email.Subject, "Daily Brief")
	if err != nil {
		b.Fatal(err)
	}
	d := mailable(b, set.Articles)
	rd := syndicate.Reader{Email: "ada@example.org", Name: "Ada"}
	b.Run("templates", func(b *testing.B) {
		for b.Loop() {
			r.Render(d, rd, "https://e.org/u?token=x")
		}
	})
	b.Run("issue", func(b *testing.B) {
		is := r.Issue(d)
		for b.Loop() {
			is.Render(rd, "https://e.org/u?token=x")
		}
	})
}
