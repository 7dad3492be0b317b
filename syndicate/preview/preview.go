// Package preview renders the one-page HTML preview: every pending thread
// drawn as cards of its network — Mastodon's and Bluesky's side by side
// for each article — with each post's length against its network's limit,
// beside the digest as a reader will see it. The page is self-contained (inline
// CSS, images as data: URIs) so it opens from file:// with no server.
package preview

import (
	"encoding/base64"
	"fmt"
	htmltemplate "html/template"
	"io"
	"net/url"
	"strings"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/files"
	"github.com/syndicate-bot/syndicate/syndicate/text"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
	"github.com/syndicate-bot/syndicate/templates"
)

// Page is what the preview template sees.
type Page struct {
	Title   string
	Account string // the account's display name
	Initial string // its first letter, for the avatar placeholder
	// Networks are the networks threads go to, with their limits.
	Networks []Network
	// Threads are every thread, network by network; Articles the same
	// threads by article, each with its networks' threads side by side.
	Threads    []Thread
	Articles   []Article
	Digest     Digest
	Problems   []string
	Generated  string
	PostsTotal int
}

// Network is a network threads go to, as the page's header names it.
type Network struct {
	Name   string // mastodon, bluesky
	Label  string // Mastodon, Bluesky
	Server string // the server or PDS
	Limit  int
	Unit   string // what the limit counts: characters, graphemes
}

// Article is one article's threads, one per network.
type Article struct {
	ID      string
	URL     string
	Source  string // "feed:<name>"; "" for the folder
	Threads []Thread
}

// Thread is one article's thread on one network as drawn.
type Thread struct {
	Network   string // mastodon, bluesky: the cards' style
	Label     string // Mastodon, Bluesky
	Account   string // who posts it there
	ArticleID string
	Source    string // "feed:<name>"; "" for the folder
	Title     string
	URL       string
	Limit     int
	Posts     []Post
	// Change says the thread is posted already and what a run would do
	// to it ("changes to the thread posted", "retracted: deleted"); its
	// posts are then the changed ones, each with its Change.
	Change string
}

// Post is one card.
type Post struct {
	Number         int
	Of             int
	HTML           htmltemplate.HTML
	ContentWarning string
	Visibility     string
	Language       string
	Length         int
	Limit          int
	Level          string // ok, near (within 10% of the limit) or over
	Images         []Image
	Card           *Card // a link card, shown when the post has no picture
	// Change is what a run would do to a post made ("edited", "added",
	// "deleted", "correction reply") and Before the post as it was made,
	// shown beside its new text; both empty for a new thread.
	Change string
	Before htmltemplate.HTML
}

// Card is a link card as drawn: the page's title, description and host.
type Card struct {
	URL, Title, Description, Host string
}

// Image is an attachment shown on a card.
type Image struct {
	Src htmltemplate.URL // data: URI, or empty when the file cannot be read
	Alt string
}

// Digest is the rendered digest shown beside the threads.
type Digest struct {
	Subject  string
	HTML     string // the whole email document, shown in an iframe
	Text     string
	Readers  int
	Articles int
	Note     string // why there is no digest, when there is none
}

// Renderer renders the page.
type Renderer struct{ tmpl *htmltemplate.Template }

// NewRenderer parses the preview template (see package templates).
func NewRenderer(dir string) (*Renderer, error) {
	src, source, err := templates.Open(dir, templates.PreviewPage)
	if err != nil {
		return nil, err
	}
	t, err := htmltemplate.New(source).Parse(src)
	if err != nil {
		return nil, err
	}
	return &Renderer{tmpl: t}, nil
}

// Render writes the page.
func (r *Renderer) Render(w io.Writer, p Page) error {
	if err := r.tmpl.Execute(w, p); err != nil {
		return err
	}
	return nil
}

// ImageReader reads a picture checked to be an image (see files.Images).
type ImageReader interface {
	Read(path string, limit int64) (files.Image, error)
}

// MaxInlined is the most of pictures one page inlines: a page is for a
// person's browser, and forty articles naming one 16 MiB picture must not
// make a gigabyte of HTML.
const MaxInlined = 32 << 20

// Inliner makes the data: URIs of a page's pictures: each file is read
// once, and the page's total stays within MaxInlined (a picture past it
// shows as missing, with its alt text).
type Inliner struct {
	images ImageReader
	left   int
	cache  map[string]htmltemplate.URL
}

// NewInliner inlines pictures read through images.
func NewInliner(images ImageReader) *Inliner {
	return &Inliner{images: images, left: MaxInlined, cache: map[string]htmltemplate.URL{}}
}

// URI is the picture at path as a data: URI, or "" when it is not a
// real image, lies outside the allowed folders, or the page is full.
func (in *Inliner) URI(path string) htmltemplate.URL {
	if in == nil || in.images == nil {
		return ""
	}
	uri, ok := in.cache[path]
	if !ok {
		if img, err := in.images.Read(path, files.MaxImageSize); err == nil {
			uri = htmltemplate.URL("data:" + img.Type + ";base64," + base64.StdEncoding.EncodeToString(img.Data))
		}
		in.cache[path] = uri
	}
	if len(uri) > in.left {
		return ""
	}
	in.left -= len(uri)
	return uri
}

// ByArticle groups threads by article, in the order each article first
// appears, each article's threads in the order given.
func ByArticle(threads []Thread) []Article {
	var out []Article
	at := map[string]int{}
	for _, t := range threads {
		i, ok := at[t.ArticleID]
		if !ok {
			i = len(out)
			at[t.ArticleID] = i
			out = append(out, Article{ID: t.ArticleID, URL: t.URL, Source: t.Source})
		}
		out[i].Threads = append(out[i].Threads, t)
	}
	return out
}

// FromThread draws a composed thread of a network (n names it, its
// limit and the account); pictures are inlined through in. Only a real
// image is ever inlined: a file that is not one, or lies outside the
// allowed folders, shows as a missing picture.
func FromThread(t syndicate.Thread, n Network, account string, in *Inliner) Thread {
	limit := n.Limit
	out := Thread{Network: n.Name, Label: n.Label, Account: account, ArticleID: t.ArticleID, Title: t.Title, URL: t.URL, Limit: limit}
	if t.Source != "folder" {
		out.Source = t.Source
	}
	for i, p := range t.Posts {
		level := "ok"
		switch {
		case p.Length > limit:
			level = "over"
		case p.Length*10 >= limit*9:
			level = "near"
		}
		card := Post{
			Number: i + 1, Of: len(t.Posts), HTML: PostHTML(p.Text), ContentWarning: p.ContentWarning,
			Visibility: p.Visibility, Language: p.Language, Length: p.Length, Limit: limit, Level: level,
		}
		for _, m := range p.Media {
			card.Images = append(card.Images, Image{Src: in.URI(m.File), Alt: m.Description})
		}
		if c := p.Card; c != nil && len(p.Media) == 0 {
			host := c.URL
			if u, err := url.Parse(c.URL); err == nil && u.Host != "" {
				host = u.Host
			}
			card.Card = &Card{URL: c.URL, Title: c.Title, Description: c.Description, Host: host}
		}
		out.Posts = append(out.Posts, card)
	}
	return out
}

// PostHTML renders post text as Mastodon shows it: paragraphs, line
// breaks, and links, mentions and hashtags styled.
func PostHTML(post string) htmltemplate.HTML {
	var b strings.Builder
	last := 0
	esc := htmltemplate.HTMLEscapeString
	for _, s := range thread.Spans(post) {
		b.WriteString(esc(post[last:s.Start]))
		v := post[s.Start:s.End]
		switch s.Kind {
		case "url":
			fmt.Fprintf(&b, `<a class="link" href="%s">%s</a>`, esc(v), esc(text.ShortURL(v)))
		default:
			fmt.Fprintf(&b, `<span class="%s">%s</span>`, s.Kind, esc(v))
		}
		last = s.End
	}
	b.WriteString(esc(post[last:]))
	paras := strings.Split(b.String(), "\n\n")
	for i, p := range paras {
		paras[i] = "<p>" + strings.ReplaceAll(p, "\n", "<br>") + "</p>"
	}
	return htmltemplate.HTML(strings.Join(paras, ""))
}
