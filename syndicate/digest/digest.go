// Package digest chooses the articles of an email digest and renders it:
// a subject, an HTML part from html/template (article text escaped) and a
// plain-text part from text/template, personalised per reader.
package digest

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"sort"
	"strconv"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/text"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
	"github.com/syndicate-bot/syndicate/templates"
)

// Digest is an issue of the email: its articles, newest first, and how
// many more there were beyond the ones it carries in full.
type Digest struct {
	Date     time.Time
	Articles []syndicate.DigestItem
	// Omitted is how many newer-than-the-last-digest articles are left
	// out beyond email.max_articles; the digest gives them one line
	// pointing at ArchiveURL, and they count as mailed.
	Omitted    int
	ArchiveURL string
	// Notices are the corrections and retractions the digest carries
	// (recorded with it when it was made), in the order they were made.
	Notices []syndicate.Notice
}

// Empty reports whether the digest carries nothing: no article and no
// correction or retraction. An empty digest is not sent.
func (d Digest) Empty() bool { return len(d.Articles) == 0 && len(d.Notices) == 0 }

// MaxNotices bounds the corrections and retractions one digest carries;
// more wait for the next.
const MaxNotices = 100

// New makes a digest of the given articles (chosen by the caller: see
// job.ForDigest), newest first, at most maxFull of them in full (0: all).
// It returns the IDs of the articles beyond maxFull. pics says where
// their pictures are published; the size of each local picture an item
// shows is read from its file here, once, and recorded with the item.
func New(articles []*syndicate.Article, date time.Time, maxFull int, pics Pictures) (Digest, []string) {
	d := Digest{Date: date}
	sorted := append([]*syndicate.Article(nil), articles...)
	sort.SliceStable(sorted, func(i, j int) bool {
		ti, tj := sorted[i].When(), sorted[j].When()
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return sorted[i].ID < sorted[j].ID
	})
	var omitted []string
	sizes := newSizer(pics)
	defer sizes.close()
	for _, a := range sorted {
		if maxFull > 0 && len(d.Articles) >= maxFull {
			omitted = append(omitted, a.ID)
			continue
		}
		d.Articles = append(d.Articles, item(a, pics, sizes))
	}
	d.Omitted = len(omitted)
	return d, omitted
}

// An article's share of a digest is bounded, whatever its file says: a
// message must stay far under a relay's size limit (Postfix's default is
// 10 MB), or every reader fails.
const (
	MaxKeyPoints   = 10   // key points per article
	MaxPointLength = 1000 // characters per key point
	MaxTitleLength = 300  // characters of a title
	MaxPhotoLength = 600  // characters of a caption and of a credit
)

// Item is an article as a digest records and shows it, within the bounds
// above (a longer text is shortened at a word, with an ellipsis). Its
// picture is shown only when the article has a public URL for it, of the
// size the article says (New also finds a URL under email.media_base_url
// and reads a file's size).
func Item(a *syndicate.Article) syndicate.DigestItem { return item(a, Pictures{}, nil) }

func item(a *syndicate.Article, pics Pictures, sizes *sizer) syndicate.DigestItem {
	it := syndicate.DigestItem{ID: a.ID, Title: text.Shorten(a.Title, MaxTitleLength), URL: a.URL, Date: a.Date}
	for _, kp := range a.KeyPoints {
		if len(it.KeyPoints) == MaxKeyPoints {
			break
		}
		it.KeyPoints = append(it.KeyPoints, text.Shorten(kp, MaxPointLength))
	}
	if a.Image != nil {
		it.ImageAlt, it.ImageCredit = text.Shorten(a.Image.Alt, MaxPhotoLength), text.Shorten(a.Image.Credit, MaxPhotoLength)
		it.Image = pics.digestImage(a.Image, sizes)
	}
	return it
}

// Data is what the digest templates see for one reader.
type Data struct {
	Subject        string
	Preheader      string
	ListName       string
	Date           time.Time
	Articles       []Article
	Count          int    // len(Articles): the articles in full
	More           int    // all articles but the first, for subjects like "… and 2 more"
	Omitted        int    // articles beyond email.max_articles, given one line
	OmittedText    string // Omitted written for people: "1,975"
	ArchiveURL     string // where the omitted ones are (base_url)
	ArchiveShort   string // ArchiveURL shortened for display
	Reader         syndicate.Reader
	UnsubscribeURL string
	// Corrections are the corrections and retractions of articles sent
	// before (see Correction); a digest may carry only these.
	Corrections []Correction
}

// Correction is a correction or a retraction as the templates see it:
// the article's title, its link (none for a retraction: the article is
// withdrawn) and the correction's text, each one line without control
// characters and bounded, as a notice is written by whoever edited the
// article's file.
type Correction struct {
	Title     string
	URL       string
	Text      string // the correction ("" for a retraction)
	Retracted bool
}

// MaxCorrectionLength bounds a correction's text in a digest (the front
// matter allows 500 graphemes; the state is not trusted to).
const MaxCorrectionLength = 1000

func corrections(notices []syndicate.Notice) []Correction {
	if len(notices) == 0 {
		return nil
	}
	out := make([]Correction, 0, len(notices))
	for _, n := range notices {
		c := Correction{Title: text.Shorten(text.OneLine(n.Title), MaxTitleLength), Retracted: n.Kind == syndicate.NoticeRetraction}
		if c.Title == "" {
			c.Title = n.ArticleID
		}
		if !c.Retracted {
			c.URL = text.OneLine(n.URL)
			c.Text = text.Shorten(text.OneLine(n.Text), MaxCorrectionLength)
		}
		out = append(out, c)
	}
	return out
}

// Article is an article as the templates see it: the recorded item and
// the text the templates would otherwise work out for every reader.
// (A flat struct: text/template finds fields of an embedded struct by a
// slow, allocating search.)
type Article struct {
	ID          string
	Title       string
	URL         string
	Date        time.Time
	KeyPoints   []string
	ImageAlt    string
	ImageCredit string
	DateText    string // "2 January 2006", or "" when the article has no date
	Photo       string // "alt text (credit)", or "" when there is no picture
	// Picture is the picture to show, scaled for display (see
	// MaxPictureWidth), or nil when the article has no public picture.
	Picture *Picture
	// KeyPointHTML are the key points as HTML: escaped, with their http(s)
	// links made links.
	KeyPointHTML []htmltemplate.HTML
}

func articles(items []syndicate.DigestItem) []Article {
	out := make([]Article, len(items))
	for i, it := range items {
		a := Article{ID: it.ID, Title: it.Title, URL: it.URL, Date: it.Date, KeyPoints: it.KeyPoints, ImageAlt: it.ImageAlt, ImageCredit: it.ImageCredit, Picture: picture(it.Image)}
		for _, kp := range it.KeyPoints {
			a.KeyPointHTML = append(a.KeyPointHTML, linkify(kp))
		}
		if !it.Date.IsZero() {
			a.DateText = it.Date.Format("2 January 2006")
		}
		switch {
		case it.ImageAlt != "" && it.ImageCredit != "":
			a.Photo = it.ImageAlt + " (" + it.ImageCredit + ")"
		case it.ImageAlt != "":
			a.Photo = it.ImageAlt
		case it.ImageCredit != "":
			a.Photo = "(" + it.ImageCredit + ")"
		}
		out[i] = a
	}
	return out
}

// Message is a digest rendered for one reader.
type Message struct {
	Subject string
	HTML    string
	Text    string
}

// Renderer renders digests; it is safe for concurrent use.
type Renderer struct {
	subject *texttemplate.Template
	html    *htmltemplate.Template
	text    *texttemplate.Template
	list    string
	buffers sync.Pool // *bytes.Buffer, reused between renders
	// fast is true when the templates use readers' values only as
	// Issue's per-shape rendering can (see fastPathSafe).
	fast bool
}

// NewRenderer parses the digest templates from dir (see package templates)
// and the subject template; listName is shown as the sender's name.
func NewRenderer(dir, subject, listName string) (*Renderer, error) {
	r := &Renderer{list: listName}
	var err error
	if r.subject, err = texttemplate.New("subject").Option("missingkey=error").Parse(subject); err != nil {
		return nil, fmt.Errorf("email.subject template: %w", err)
	}
	src, source, err := templates.Open(dir, templates.DigestHTML)
	if err != nil {
		return nil, err
	}
	if r.html, err = htmltemplate.New(source).Parse(src); err != nil {
		return nil, err
	}
	if src, source, err = templates.Open(dir, templates.DigestText); err != nil {
		return nil, err
	}
	if r.text, err = texttemplate.New(source).Parse(src); err != nil {
		return nil, err
	}
	r.fast = fastPathSafe(r.subject, r.html, r.text)
	return r, nil
}

// Render renders the digest for one reader.
func (r *Renderer) Render(d Digest, reader syndicate.Reader, unsubscribeURL string) (Message, error) {
	m, err := r.execute(d, reader, unsubscribeURL)
	return m.finish(), err
}

// finish is the last step of every rendering: line ends made "\n" and the
// plain text wrapped (see wrapText). An Issue runs it after filling in a
// reader's values, so both ways of rendering give the same bytes.
func (m Message) finish() Message {
	m.HTML = lineEnds(m.HTML)
	m.Text = wrapText(lineEnds(m.Text))
	return m
}

// execute runs the templates.
func (r *Renderer) execute(d Digest, reader syndicate.Reader, unsubscribeURL string) (Message, error) {
	data := Data{
		ListName: r.list, Date: d.Date, Articles: articles(d.Articles), Count: len(d.Articles), More: max(0, len(d.Articles)+d.Omitted-1),
		Omitted: d.Omitted, OmittedText: thousands(d.Omitted), ArchiveURL: d.ArchiveURL, ArchiveShort: text.ShortURL(d.ArchiveURL),
		Reader: reader, UnsubscribeURL: unsubscribeURL, Corrections: corrections(d.Notices),
	}
	if len(d.Articles) > 0 {
		first := d.Articles[0]
		pre := first.Title
		if len(first.KeyPoints) > 0 && first.KeyPoints[0] != first.Title {
			pre += " — " + first.KeyPoints[0]
		}
		data.Preheader = text.Shorten(pre, 140)
	} else if len(data.Corrections) > 0 {
		c := data.Corrections[0]
		pre := "Retracted: " + c.Title
		if !c.Retracted {
			pre = "Correction: " + c.Title + " — " + c.Text
		}
		data.Preheader = text.Shorten(pre, 140)
	}
	buf, _ := r.buffers.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() { buf.Reset(); r.buffers.Put(buf) }()
	buf.Reset()
	if err := r.subject.Execute(buf, data); err != nil {
		if len(d.Articles) > 0 || len(data.Corrections) == 0 {
			return Message{}, fmt.Errorf("email.subject template: %w", err)
		}
		// A digest of corrections alone has no first article, which
		// many subjects name ({{(index .Articles 0).Title}}, as the
		// default does): it is titled for what it carries instead.
		buf.Reset()
		buf.WriteString(r.list + ": " + CorrectionsSubject)
	}
	// A subject is one line: a template's newlines would break the header.
	data.Subject = text.OneLine(buf.String())
	buf.Reset()
	if err := r.html.Execute(buf, data); err != nil {
		return Message{}, err
	}
	html := buf.String()
	buf.Reset()
	if err := r.text.Execute(buf, data); err != nil {
		return Message{}, err
	}
	return Message{Subject: data.Subject, HTML: html, Text: buf.String()}, nil
}

// CorrectionsSubject ends the subject of a digest of corrections alone
// whose subject template cannot render without an article.
const CorrectionsSubject = "Corrections"

// thousands writes n with commas: 1975 → "1,975".
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// lineEnds makes every line end a bare "\n" (a template or a value may
// carry "\r\n" or a lone "\r"): the message writer turns each into CRLF,
// and no lone CR can reach the relay, where "\r.\r\n" could end DATA
// early on some servers.
func lineEnds(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// linkify escapes text for HTML and makes its http(s) URLs links, found
// by the same rules that count a post (package thread). A link shows its
// URL shortened as Mastodon does (no scheme, at most 30 characters), so a
// long one never makes a phone scroll sideways; the href keeps it whole.
// (CSS that breaks words, overflow-wrap and word-break, is ignored by many
// mail clients.)
func linkify(s string) htmltemplate.HTML {
	var b strings.Builder
	last := 0
	for _, sp := range thread.Spans(s) {
		u := s[sp.Start:sp.End]
		if sp.Kind != "url" || !(strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) {
			continue
		}
		b.WriteString(htmltemplate.HTMLEscapeString(s[last:sp.Start]))
		b.WriteString(`<a class="link" href="` + htmltemplate.HTMLEscapeString(u) + `" style="color:#0b5cad;">` + htmltemplate.HTMLEscapeString(text.ShortURL(u)) + `</a>`)
		last = sp.End
	}
	b.WriteString(htmltemplate.HTMLEscapeString(s[last:]))
	return htmltemplate.HTML(b.String())
}
