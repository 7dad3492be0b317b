package thread

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"unicode"

	"github.com/rivo/uniseg"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/text"
)

// Options are the settings a thread is composed with.
type Options struct {
	Limits          syndicate.Limits
	Numbering       bool
	Visibility      string // of the head post
	ReplyVisibility string
	Language        string   // when the article sets none
	Hashtags        []string // added to every head post
	// Head renders the head post from HeadData.
	Head *template.Template
	// MaxPosts refuses a thread longer than this (0: no cap): a huge key
	// point must not become hundreds of posts.
	MaxPosts int
	// Network names the config section the settings came from, in
	// messages ("mastodon" when empty).
	Network string
	// ContentWarningInText folds the article's content warning into the
	// text of every post ("CW: …" and a blank line), for a network whose
	// posts have no content warning of their own (Bluesky).
	ContentWarningInText bool
	// LinkCard gives the head post a link card (syndicate.Card) of the
	// article's URL, title and description, for a network where the
	// client writes the card into the post (Bluesky) rather than the
	// server fetching the page.
	LinkCard bool
}

// MaxCardDescription is the most graphemes of a link card's description.
const MaxCardDescription = 300

// HeadData is what the head post template sees.
type HeadData struct {
	Title    string
	URL      string
	Hashtags string // "#One #Two", already valid
	Article  *syndicate.Article
}

// postRules are what every post of an article's thread shares, the head,
// the key points and the corrections alike.
type postRules struct {
	lim        syndicate.Limits
	cw, prefix string // the content warning: in its field, or opening the text
	counting   Counting
	lang       string
}

func rulesFor(a *syndicate.Article, opts Options) postRules {
	r := postRules{lim: opts.Limits, cw: a.ContentWarning, lang: a.Lang}
	if r.lim.URLLength <= 0 {
		r.lim.URLLength = syndicate.DefaultLimits().URLLength
	}
	if opts.ContentWarningInText && r.cw != "" {
		// The warning opens every post, as its first paragraph.
		r.cw, r.prefix = "", "CW: "+r.cw+"\n\n"
	}
	r.counting = Counting(r.lim.Counting)
	if r.lang == "" {
		r.lang = opts.Language
	}
	return r
}

// Compose builds the thread of an article: the head post, then one reply
// per key point, split where a point is longer than a post, numbered i/N
// once the splitting is done.
//
// A feed's item has its mentions defanged (see Defang).
func Compose(a *syndicate.Article, opts Options) (syndicate.Thread, error) {
	a = defanged(a)
	r := rulesFor(a, opts)
	lim, cw, prefix, counting, lang := r.lim, r.cw, r.prefix, r.counting, r.lang
	if cwLen := counting.Length("", cw+prefix, lim.URLLength); cwLen > lim.MaxCharacters/2 {
		return syndicate.Thread{}, fmt.Errorf("article %s: content warning is %d characters, too long for posts of %d", a.ID, cwLen, lim.MaxCharacters)
	}
	length := func(text string) int { return counting.Length(cw, prefix+text, lim.URLLength) }
	// withSuffix is length(text + suffix) for a numbering suffix: it
	// starts with a line break, which joins no grapheme, URL or mention
	// before it (but after a CR), so its length just adds.
	withSuffix := func(text, suffix string) int {
		if suffix == "" || strings.HasSuffix(text, "\r") || counting == CountBluesky {
			return length(text + suffix) // (Bluesky's byte share is not additive)
		}
		return length(text) + len(suffix)
	}

	// The suffix reserve depends on N, and N on the splitting: split with a
	// guess of N's width, and again if the result is wider.
	var chunks [][]string
	total := 1 + len(a.KeyPoints)
	for attempt := 0; attempt < 4; attempt++ {
		reserve := ""
		if opts.Numbering {
			reserve = numberSuffix(total, total)
		}
		fits := func(s string) bool { return withSuffix(s, reserve) <= lim.MaxCharacters }
		chunks = chunks[:0]
		n := 1
		for _, kp := range a.KeyPoints {
			parts := Split(kp, fits)
			chunks = append(chunks, parts)
			n += len(parts)
		}
		if !opts.Numbering || len(strconv.Itoa(n)) <= len(strconv.Itoa(total)) {
			total = n
			break
		}
		total = n
	}
	numbered := opts.Numbering && total > 1
	if opts.MaxPosts > 0 && total > opts.MaxPosts {
		section := opts.Network
		if section == "" {
			section = "mastodon"
		}
		return syndicate.Thread{}, fmt.Errorf("article %s: the thread would be %d posts, more than %s.max_posts_per_thread (%d); shorten its key points", a.ID, total, section, opts.MaxPosts)
	}

	suffix := func(i int) string {
		if !numbered {
			return ""
		}
		return numberSuffix(i, total)
	}
	head, err := renderHead(a, opts, lim, length, func(s string) bool { return withSuffix(s, suffix(1)) <= lim.MaxCharacters })
	if err != nil {
		return syndicate.Thread{}, err
	}
	t := syndicate.Thread{ArticleID: a.ID, Source: a.Source, Title: a.Title, URL: a.URL}
	add := func(text, visibility string) {
		sfx := suffix(len(t.Posts) + 1)
		n := withSuffix(text, sfx)
		t.Posts = append(t.Posts, syndicate.Post{
			Text: prefix + text + sfx, ContentWarning: cw, Visibility: visibility, Language: lang, Length: n,
		})
	}
	add(head, opts.Visibility)
	if opts.LinkCard && a.URL != "" {
		t.Posts[0].Card = &syndicate.Card{URL: a.URL, Title: a.Title, Description: cardDescription(a)}
	}
	if img := a.Image; img != nil && (img.Path != "" || img.URL != "") && lim.MaxMedia > 0 {
		desc := img.Alt
		if lim.DescriptionLimit > 0 && uniseg.GraphemeClusterCount(desc) > lim.DescriptionLimit {
			desc = text.Shorten(desc, lim.DescriptionLimit)
		}
		src := img.Path
		if src == "" {
			src = img.URL // a feed item's picture, fetched when the post is sent
		}
		t.Posts[0].Media = []syndicate.Media{{File: src, Description: desc}}
	}
	for _, parts := range chunks {
		for _, p := range parts {
			add(p, opts.ReplyVisibility)
		}
	}
	return t, nil
}

func numberSuffix(i, n int) string { return "\n\n" + strconv.Itoa(i) + "/" + strconv.Itoa(n) }

var blankLines = regexp.MustCompile(`\n{3,}`)

// cardDescription is the description of an article's link card: its
// first paragraph, else its first key point, at most MaxCardDescription
// graphemes.
func cardDescription(a *syndicate.Article) string {
	for _, list := range [][]string{a.Body, a.KeyPoints} {
		for _, p := range list {
			if p = strings.Join(strings.Fields(p), " "); p != "" {
				return text.Shorten(p, MaxCardDescription)
			}
		}
	}
	return ""
}

// renderHead renders the head post, shortening the title (and then
// dropping the hashtags) until it fits; length is the post's length as
// counted.
func renderHead(a *syndicate.Article, opts Options, lim syndicate.Limits, length func(string) int, fits func(string) bool) (string, error) {
	tags := Hashtags(append(append([]string(nil), a.Tags...), opts.Hashtags...))
	render := func(title string, tags []string) (string, error) {
		var buf bytes.Buffer
		data := HeadData{Title: title, URL: a.URL, Hashtags: strings.Join(tags, " "), Article: a}
		if err := opts.Head.Execute(&buf, data); err != nil {
			return "", fmt.Errorf("head post template: %w", err)
		}
		out := strings.TrimSpace(buf.String())
		if strings.Contains(out, "\n\n\n") {
			out = blankLines.ReplaceAllString(out, "\n\n")
		}
		return out, nil
	}
	for {
		post, err := render(a.Title, tags)
		if err != nil {
			return "", err
		}
		if fits(post) {
			return post, nil
		}
		// Shorten the title one step at a time, long steps first.
		titleLen := uniseg.GraphemeClusterCount(a.Title)
		for n := titleLen - 1; n >= 20; {
			post, err = render(text.Shorten(a.Title, n), tags)
			if err != nil {
				return "", err
			}
			if fits(post) {
				return post, nil
			}
			over := length(post) - lim.MaxCharacters
			n -= max(1, over)
		}
		if len(tags) == 0 {
			break
		}
		tags = tags[:len(tags)-1]
	}
	return "", fmt.Errorf("article %s: the head post cannot fit in %d characters", a.ID, lim.MaxCharacters)
}

// MaxHashtags is the most hashtags a head post carries: more is spam, and
// an article's front matter must not make composing it slow.
const MaxHashtags = 30

// Hashtags makes tags valid Mastodon hashtags: "Offshore Wind" becomes
// #OffshoreWind and "north-sea" #NorthSea (words joined, each capitalised,
// which screen readers read better); a tag of digits only is dropped, as
// Mastodon would not link it; duplicates (ignoring case) are dropped; at
// most MaxHashtags are kept.
func Hashtags(tags []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range tags {
		if len(out) == MaxHashtags {
			break
		}
		h := Hashtag(t)
		if h == "" || seen[strings.ToLower(h)] {
			continue
		}
		seen[strings.ToLower(h)] = true
		out = append(out, h)
	}
	return out
}

// Hashtag makes one tag valid, or returns "" when nothing of it can be.
func Hashtag(tag string) string {
	words := strings.FieldsFunc(tag, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || r == '_')
	})
	if len(words) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('#')
	for _, w := range words {
		if len(words) > 1 {
			r := []rune(w)
			r[0] = unicode.ToUpper(r[0])
			w = string(r)
		}
		b.WriteString(w)
	}
	h := b.String()
	if strings.IndexFunc(h[1:], func(r rune) bool { return !unicode.IsDigit(r) && r != '_' }) < 0 {
		return "" // Mastodon needs a letter in a hashtag
	}
	return h
}
