package digest_test

import (
	"strings"
	"testing"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
	"github.com/syndicate-bot/syndicate/syndicate/internal/golden"
)

// sampleNotices are a correction and a retraction, as the post job
// records them.
var sampleNotices = []syndicate.Notice{
	{ArticleID: "harbour-library-reopens", Kind: syndicate.NoticeCorrection, Title: "Harbour library reopens after two-year renovation",
		URL: "https://news.example.org/articles/harbour-library-reopens", Text: "The renovation cost 6.2 million, not 8.2 million as first reported."},
	{ArticleID: "stadium-deal", Kind: syndicate.NoticeRetraction, Title: "Stadium deal signed"},
}

func TestRender_CorrectionsGolden(t *testing.T) {
	reader := syndicate.Reader{Email: "ada@example.org", Name: "Ada"}
	unsub := "https://news.example.org/unsubscribe?token=abc.def"
	tests := []struct {
		name        string
		d           digest.Digest
		subject     string
		intro       string // the text part's opening sentence
		wantPreface string
	}{
		{"digest-corrections", func() digest.Digest { d := mailable(t, sampleArticles(t)); d.Notices = sampleNotices; return d }(),
			"Daily Brief: City council passes 2027 budget after all-night session and 3 more", "Hello Ada, here are the 4 new stories.", ""},
		{"digest-corrections-only", digest.Digest{Date: day, Notices: sampleNotices},
			"Daily Brief: Corrections", "Hello Ada, here are 2 corrections to stories sent before.", "Correction: Harbour library reopens"},
		{"digest-one-retraction", digest.Digest{Date: day, Notices: sampleNotices[1:]},
			"Daily Brief: Corrections", "Hello Ada, here is a correction to stories sent before.", "Retracted: Stadium deal signed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := renderer(t).Render(tt.d, reader, unsub)
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != tt.subject {
				t.Errorf("subject = %q, want %q", m.Subject, tt.subject)
			}
			if !strings.Contains(m.Text, tt.intro) {
				t.Errorf("text part lacks %q:\n%s", tt.intro, m.Text)
			}
			if tt.wantPreface != "" && !strings.Contains(m.HTML, tt.wantPreface) {
				t.Errorf("preheader lacks %q", tt.wantPreface)
			}
			golden.Check(t, tt.name+".html", []byte(m.HTML))
			golden.Check(t, tt.name+".txt", []byte(m.Text))
			for _, n := range tt.d.Notices {
				want := n.Title + ": " + strings.Fields(n.Text + " x")[0]
				if n.Kind == syndicate.NoticeRetraction {
					want = "Retracted: " + n.Title
				}
				if !strings.Contains(m.Text, want) {
					t.Errorf("text part lacks %q", want)
				}
				if !strings.Contains(m.HTML, n.Title) {
					t.Errorf("HTML part lacks %q", n.Title)
				}
			}
			// The correction's article is linked; a retraction is not.
			if !strings.Contains(m.HTML, `href="https://news.example.org/articles/harbour-library-reopens"`) {
				if tt.name != "digest-one-retraction" {
					t.Error("the corrected article is not linked")
				}
			}
			if strings.Contains(m.HTML, "stadium-deal") || strings.Contains(m.Text, "stadium-deal") {
				t.Error("the retracted article is linked")
			}
		})
	}
}

// A correction's text and title are written by whoever edited the file:
// hostile input. They reach the HTML escaped, as one line without control
// characters, and cannot add a header, even through a subject template
// that shows them.
func TestRender_CorrectionsAreEscaped(t *testing.T) {
	hostile := []syndicate.Notice{{ArticleID: "x", Kind: syndicate.NoticeCorrection,
		Title: "<script>alert('t')</script>\r\nBcc: everyone@example.org",
		URL:   "javascript:alert(1)",
		Text:  "<script>alert(\"x\")</script> <img src=x onerror=alert(2)>\r\nBcc: victim@example.org\r\n\r\n.\r\nMAIL FROM:<a@b>\x1b[2J\u2028end"}}
	r, err := digest.NewRenderer("", `{{.ListName}}: {{with .Corrections}}{{(index . 0).Title}} {{(index . 0).Text}}{{end}}`, "Daily Brief")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []digest.Digest{{Date: day, Notices: hostile}, {Date: day, Articles: []syndicate.DigestItem{{ID: "a", Title: "A"}}, Notices: hostile}} {
		for _, rr := range []*digest.Renderer{r, renderer(t)} {
			m, err := rr.Render(d, syndicate.Reader{Email: "r@example.org"}, "https://e.org/u")
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"<script>", "<img", `href="javascript:`, "\x1b", "\r", "\u2028"} {
				if strings.Contains(m.HTML, bad) {
					t.Errorf("HTML part holds %q:\n%s", bad, m.HTML)
				}
			}
			if !strings.Contains(m.HTML, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
				t.Errorf("the correction is not shown escaped:\n%s", m.HTML)
			}
			for _, bad := range []string{"\x1b", "\r", "\u2028", "\nBcc:", "\n.\n", "\nMAIL FROM"} {
				if strings.Contains(m.Text, bad) || strings.Contains(m.Subject, bad) {
					t.Errorf("text part or subject holds %q:\n%q\n%q", bad, m.Subject, m.Text)
				}
			}
			if strings.ContainsAny(m.Subject, "\r\n") {
				t.Errorf("subject %q is not one line", m.Subject)
			}
		}
	}
}

func TestIssue_MatchesExactRenderingWithCorrections(t *testing.T) {
	r := renderer(t)
	for _, d := range []digest.Digest{{Date: day, Notices: sampleNotices}, func() digest.Digest { d := mailable(t, sampleArticles(t)); d.Notices = sampleNotices; return d }()} {
		is := r.Issue(d)
		for _, rd := range []syndicate.Reader{{Email: "ada@example.org", Name: "Ada"}, {Email: "o'neil+news@example.org", Name: `Zoë "Z" <b>&`}, {Email: "plain@example.org"}} {
			got, err := is.Render(rd, "https://news.example.org/unsubscribe?token=abc")
			if err != nil {
				t.Fatal(err)
			}
			want, err := r.Render(d, rd, "https://news.example.org/unsubscribe?token=abc")
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
}
