package feed

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/mmcdole/gofeed"
	"github.com/mmcdole/gofeed/atom"
	ext "github.com/mmcdole/gofeed/extensions"
	gojson "github.com/mmcdole/gofeed/json"
	"github.com/mmcdole/gofeed/rss"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/article"
	"github.com/syndicate-bot/syndicate/syndicate/text"
)

// Limits of what Parse takes from one feed.
const (
	// MaxFeedSize is the largest feed body read or parsed (10 MiB): a
	// longer one is refused, never cut and parsed.
	MaxFeedSize = 10 << 20
	// MaxItems is the most items read from one feed; the rest are one
	// problem. Feeds carry their latest 10 to 100 items.
	MaxItems = 1000
	// MaxItemText is the most text one item may carry (1 MiB, as an
	// article file); a longer item is skipped with a problem.
	MaxItemText = 1 << 20
)

// Config is one feed as config.yaml names it.
type Config struct {
	// URL is the feed's address (http or https). Relative links and
	// pictures of its items are resolved against it.
	URL string
	// Name prefixes the IDs of its articles and names it in Source
	// ("feed:<name>"); "" is the URL's host. Letters, digits, '.', '_'
	// and '-' only.
	Name string
	// Tags are added to every article's own categories.
	Tags []string
	// Lang is the language of articles whose item and feed say none.
	Lang string
}

// FeedName is the name the feed's articles carry: Name, or the URL's host
// when Name is empty.
func (c Config) FeedName() (string, error) {
	name := strings.TrimSpace(c.Name)
	if name == "" {
		u, err := url.Parse(strings.TrimSpace(c.URL))
		if err != nil || u.Hostname() == "" {
			return "", fmt.Errorf("feed %q: no name, and no host in its URL to name it by", c.URL)
		}
		name = strings.ToLower(u.Hostname())
	}
	if !validName.MatchString(name) {
		return "", fmt.Errorf("feed name %q: use letters, digits, '.', '_' and '-' only (it is part of every article ID)", name)
	}
	return name, nil
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate checks what config validation should: an http(s) URL without
// credentials, a usable name, a language code.
func (c Config) Validate() error {
	if _, err := checkURL(c.URL); err != nil {
		return err
	}
	if _, err := c.FeedName(); err != nil {
		return err
	}
	if l := strings.TrimSpace(c.Lang); l != "" && !langCode.MatchString(l) {
		return fmt.Errorf("feed %q: lang %q is not a language code like en or pt-BR", c.URL, l)
	}
	return nil
}

// Feed is a parsed feed: its articles in feed order, and what was wrong
// with items (skipped ones, and kept ones with a flaw such as a bad date).
type Feed struct {
	Title string
	Link  string // the site, when the feed says
	Lang  string // the feed's own language, when it says
	Items []*syndicate.Article
	// Problems are *ItemError values, one per item problem.
	Problems []error
}

// ItemError is a problem with one item of a feed.
type ItemError struct {
	// Path names the item: "feed:<name>/<id>", or "feed:<name> item N"
	// (counted from 1 in feed order) when it has no identity.
	Path string
	Link string // the item's link, when it has one
	// Skipped is true when the item gave no article; false when the
	// article was kept despite the problem.
	Skipped bool
	Msg     string
}

func (e *ItemError) Error() string {
	if e.Link != "" {
		return e.Path + " (" + e.Link + "): " + e.Msg
	}
	return e.Path + ": " + e.Msg
}

// ErrNotFeed is wrapped by every error of Parse that says the body is not
// a feed it can read.
var ErrNotFeed = errors.New("not a feed")

var langCode = regexp.MustCompile(`^[a-zA-Z]{2,3}([-_][A-Za-z0-9]{2,8})*$`)

// ParseOptions are what Parse takes besides the feed.
type ParseOptions struct {
	// FirstSeen gives the time the caller first saw an article ID (now,
	// for a new one); it dates items without a date and is every
	// article's ModTime. nil means the time of the call.
	FirstSeen func(id string) time.Time
	// Extract chooses key points for an item that has none, as for a
	// file (see article.Finish); nil chooses none.
	Extract func(paragraphs []string, lang string) []string
}

// Parse reads a feed (RSS 0.9x, 1.0 and 2.0, Atom 1.0 and 0.3, JSON Feed
// 1.0 and 1.1) and makes an article of each item; see the package doc for
// how each field is chosen. Every item is finished by article.Finish, the
// step the folder's files take too.
//
// An error means no article at all: the body is not a feed (ErrNotFeed),
// is over MaxFeedSize, or the config's name is unusable. A problem of one
// item is in Feed.Problems and never stops the others.
func Parse(cfg Config, body []byte, opts ParseOptions) (*Feed, error) {
	firstSeen := opts.FirstSeen
	name, err := cfg.FeedName()
	if err != nil {
		return nil, err
	}
	if len(body) > MaxFeedSize {
		return nil, fmt.Errorf("the feed is %s, over the 10 MiB limit: %w", sizeOf(int64(len(body))), ErrTooLarge)
	}
	base, _ := url.Parse(strings.TrimSpace(cfg.URL))
	if base != nil && !base.IsAbs() {
		base = nil
	}
	if len(bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\ufeff")))) == 0 {
		return nil, fmt.Errorf("%w: the body is empty", ErrNotFeed)
	}
	gf, err := parseFeed(body)
	if err != nil {
		if errors.Is(err, gofeed.ErrFeedTypeNotDetected) {
			if page, alt := looksLikeHTMLPage(body, base); page {
				if alt != "" {
					return nil, fmt.Errorf("%w: the server sent an HTML page (the page names a feed at %s: use that URL)", ErrNotFeed, alt)
				}
				return nil, fmt.Errorf("%w: the server sent an HTML page", ErrNotFeed)
			}
			return nil, fmt.Errorf("%w: neither RSS, Atom nor JSON Feed", ErrNotFeed)
		}
		return nil, fmt.Errorf("%w: %s", ErrNotFeed, parseErrorText(err))
	}
	if jf, ok := gf.OriginalFeed().(*gojson.Feed); ok && jf.Version == "" && len(jf.Items) == 0 {
		return nil, fmt.Errorf("%w: a JSON document that is not a JSON Feed (no version, no items)", ErrNotFeed)
	}
	if firstSeen == nil {
		now := time.Now()
		firstSeen = func(string) time.Time { return now }
	}

	p := &parser{cfg: cfg, name: name, base: base, firstSeen: firstSeen, extract: opts.Extract, seen: map[string]string{}}
	out := &Feed{Title: inlineText(gf.Title), Link: absURL(base, gf.Link)}
	out.Lang = langTag(gf.Language)
	p.feedLang = out.Lang
	if out.Link != "" {
		// Relative links of items are relative to the site more often
		// than to the feed (Hugo's relative baseURL).
		p.siteBase, _ = url.Parse(out.Link)
	}
	items := gf.Items
	if len(items) > MaxItems {
		out.Problems = append(out.Problems, &ItemError{Path: "feed:" + name, Skipped: true,
			Msg: fmt.Sprintf("the feed has %d items; only the first %d are read", len(items), MaxItems)})
		items = items[:MaxItems]
	}
	for i, it := range items {
		a, probs := p.item(i, it, original(gf, i))
		out.Problems = append(out.Problems, probs...)
		if a != nil {
			out.Items = append(out.Items, a)
		}
	}
	return out, nil
}

// parseFeed runs gofeed, turning a panic on hostile input into an error:
// nothing a server sends may stop the run.
func parseFeed(body []byte) (f *gofeed.Feed, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("the feed parser failed on this feed: %v", r)
		}
	}()
	fp := gofeed.NewParser()
	fp.KeepOriginalFeed = true
	return fp.Parse(bytes.NewReader(body))
}

// parseErrorText is gofeed's error in words for people.
func parseErrorText(err error) string {
	msg := err.Error()
	cut := ""
	if strings.Contains(msg, "unexpected EOF") || strings.Contains(msg, "unexpected end") {
		cut = "; the feed may be cut short"
	}
	switch {
	case strings.Contains(msg, "XML syntax error"):
		return "broken XML (" + msg + ")" + cut
	case strings.Contains(msg, "JSON"), strings.Contains(msg, "json"):
		return "broken JSON (" + msg + ")" + cut
	}
	return msg + cut
}

// orig is the item as its own format has it, for what the universal item
// loses: which of content_html and content_text a JSON item has, an Atom
// content's type, an item's own language.
type orig struct {
	rss  *rss.Item
	atom *atom.Entry
	json *gojson.Item
}

func original(f *gofeed.Feed, i int) orig {
	switch o := f.OriginalFeed().(type) {
	case *rss.Feed:
		if i < len(o.Items) {
			return orig{rss: o.Items[i]}
		}
	case *atom.Feed:
		if i < len(o.Entries) {
			return orig{atom: o.Entries[i]}
		}
	case *gojson.Feed:
		if i < len(o.Items) {
			return orig{json: o.Items[i]}
		}
	}
	return orig{}
}

type parser struct {
	cfg       Config
	name      string
	base      *url.URL // the feed's URL
	siteBase  *url.URL // the site's, when the feed names it
	feedLang  string
	firstSeen func(string) time.Time
	extract   func([]string, string) []string
	seen      map[string]string // ID → the GUID or link it was made from
}

// link resolves a link of an item: absolute as it is, relative against the
// site, else against the feed URL.
func (p *parser) link(ref string) string {
	if u := absURL(nil, ref); u != "" {
		return u
	}
	if p.siteBase != nil {
		if u := absURL(p.siteBase, ref); u != "" {
			return u
		}
	}
	return absURL(p.base, ref)
}

// item makes the article of one item, or says why it cannot.
func (p *parser) item(i int, it *gofeed.Item, o orig) (*syndicate.Article, []error) {
	var probs []error
	link := p.link(it.Link)
	guid := strings.TrimSpace(it.GUID)
	if link == "" && o.rss != nil && o.rss.GUID != nil && !strings.EqualFold(strings.TrimSpace(o.rss.GUID.IsPermalink), "false") {
		link = absURL(nil, guid) // RSS: a permalink GUID is the link
	}
	key, keyName := guid, "GUID"
	if key == "" {
		key, keyName = link, "link"
		if key == "" {
			key = strings.TrimSpace(it.Link)
		}
	}
	if key == "" {
		return nil, []error{&ItemError{Path: fmt.Sprintf("feed:%s item %d", p.name, i+1), Skipped: true,
			Msg: "it has no link or GUID, so no stable identity: skipped"}}
	}
	id := p.name + "-" + shortHash(key)
	path := "feed:" + p.name + "/" + id
	problem := func(skipped bool, format string, args ...any) *ItemError {
		return &ItemError{Path: path, Link: link, Skipped: skipped, Msg: fmt.Sprintf(format, args...)}
	}
	if prev, dup := p.seen[id]; dup {
		if prev == key {
			return nil, []error{problem(true, "%s %q appears again in the feed: this later item is skipped", keyName, text.Shorten(clean(key), 200))}
		}
		return nil, []error{problem(true, "%s %q gives the same ID as %q: this later item is skipped", keyName, text.Shorten(clean(key), 200), text.Shorten(clean(prev), 200))}
	}
	p.seen[id] = key

	a := &syndicate.Article{
		ID:     id,
		Path:   path,
		URL:    link,
		Source: "feed:" + p.name,
	}

	// The date: published, else updated, else (below, once the item is
	// known to make an article) first seen.
	var badDate string
	switch {
	case plausible(it.PublishedParsed):
		a.Date = *it.PublishedParsed
	case plausible(it.UpdatedParsed):
		a.Date = *it.UpdatedParsed
	default:
		for _, d := range []string{it.Published, it.Updated} {
			if d = clean(d); d != "" {
				badDate = d
				break
			}
		}
	}

	// The body and the key points.
	var blocks []block
	var images []htmlImage
	base := p.itemBase(link)
	addHTML := func(src string, useText bool) {
		h := parseHTML(src, base)
		if useText {
			blocks = h.blocks
		}
		images = append(images, h.images...)
	}
	switch {
	case o.json != nil:
		switch {
		case strings.TrimSpace(o.json.ContentHTML) != "":
			addHTML(o.json.ContentHTML, true)
		case strings.TrimSpace(o.json.ContentText) != "":
			blocks = textBlocks(o.json.ContentText)
		default:
			blocks = textBlocks(o.json.Summary)
		}
	case o.atom != nil && o.atom.Content != nil && strings.TrimSpace(o.atom.Content.Value) != "" && o.atom.Content.Src == "":
		switch typ := strings.ToLower(strings.TrimSpace(o.atom.Content.Type)); {
		case typ == "" || typ == "text" || strings.HasPrefix(typ, "text/plain"):
			blocks = textBlocks(o.atom.Content.Value)
		case strings.Contains(typ, "html"):
			addHTML(o.atom.Content.Value, true)
		} // any other type (a picture, JSON, XML) has no text for a post
		if len(blocks) == 0 {
			addHTML(it.Description, true)
		}
	case strings.TrimSpace(it.Content) != "":
		addHTML(it.Content, true)
		if len(images) == 0 {
			addHTML(it.Description, false)
		}
	default:
		addHTML(it.Description, true)
	}
	points, body := keyPoints(blocks)
	if n := len(body); n > 0 && isPostedFirst(body[n-1].text) {
		body = body[:n-1]
	}
	a.KeyPoints = points
	a.Title = inlineText(it.Title)
	// Tags: the item's categories, then the feed's configured tags.
	own := p.tags(nil, it.Categories, false)
	a.Tags = p.tags(own, p.cfg.Tags, true)
	// The limit is on all the text: a title or categories of megabytes
	// are no less an item's text than its body.
	size := len(a.Title)
	for _, b := range body {
		a.Body = append(a.Body, b.text)
		size += len(b.text)
	}
	for _, l := range [][]string{points, a.Tags} {
		for _, s := range l {
			size += len(s)
		}
	}
	if size > MaxItemText {
		return nil, append(probs, problem(true, "its text is %s, over the 1 MiB limit for an article: skipped", sizeOf(int64(size))))
	}
	if a.Title == "" && len(a.KeyPoints) == 0 && len(a.Body) == 0 {
		return nil, append(probs, problem(true, "it has no title and no text: skipped"))
	}

	a.Image = p.image(it, o, images, base)

	a.ModTime = p.firstSeen(id)
	if a.Date.IsZero() {
		a.Date = a.ModTime
		if badDate != "" {
			probs = append(probs, problem(false, "date %q is not a date it can use (unreadable, or before 1970): the item is dated when it was first seen, %s", text.Shorten(badDate, 100), a.ModTime.UTC().Format(time.RFC3339)))
		}
	}

	itemLang := ""
	switch {
	case o.json != nil:
		itemLang = strings.TrimSpace(o.json.Language)
	case it.DublinCoreExt != nil && len(it.DublinCoreExt.Language) > 0:
		itemLang = strings.TrimSpace(it.DublinCoreExt.Language[0])
	}
	itemLang = langTag(itemLang)
	for _, l := range []string{itemLang, p.feedLang, langTag(p.cfg.Lang)} {
		if l != "" {
			a.Lang = l
			break
		}
	}
	ownLang := itemLang
	if ownLang == "" {
		ownLang = p.feedLang
	}
	a.Hash = contentHash(a, own, ownLang)
	// The title when the item has none, and key points when it gives
	// none, as for a file (after the hash: they follow from what it says).
	if err := article.Finish(a, article.FinishOptions{Extract: p.extract}); err != nil {
		return nil, append(probs, problem(true, "%v: skipped", err))
	}
	return a, probs
}

// isPostedFirst reports the line WordPress SEO plugins (Yoast) append to
// every post in a feed: "The post <title> appeared first on <site>."
func isPostedFirst(t string) bool {
	return strings.HasPrefix(t, "The post ") && strings.Contains(t, " appeared first on ") && len(t) < 1000
}

// langTag is a language code as the articles folder writes it ("en",
// "pt-BR"): feeds write "en-us" and "nb-NO" alike, and a value that is not
// a code ("English") is none.
func langTag(l string) string {
	l = strings.TrimSpace(l)
	if l == "" || !langCode.MatchString(l) {
		return ""
	}
	parts := strings.FieldsFunc(l, func(r rune) bool { return r == '-' || r == '_' })
	parts[0] = strings.ToLower(parts[0])
	for i := 1; i < len(parts); i++ {
		if len(parts[i]) == 2 {
			parts[i] = strings.ToUpper(parts[i])
		}
	}
	return strings.Join(parts, "-")
}

// plausible reports a date a feed can mean: Hugo writes pages without a
// date as "Mon, 01 Jan 0001", and no feed item is from before 1970.
func plausible(t *time.Time) bool {
	return t != nil && t.Year() >= 1970
}

// itemBase is what relative URLs in an item's content are resolved
// against: the item's link, else the site, else the feed.
func (p *parser) itemBase(link string) *url.URL {
	if link != "" {
		if u, err := url.Parse(link); err == nil {
			return u
		}
	}
	if p.siteBase != nil {
		return p.siteBase
	}
	return p.base
}

// tags adds tags to have, normalised, without repeats (in any case) and
// without WordPress's default category "Uncategorized", which no one means
// as a hashtag.
func (p *parser) tags(have, add []string, configured bool) []string {
	out := have
	for _, t := range add {
		if configured {
			t = clean(t)
		} else {
			t = inlineText(t)
		}
		if t == "" || (!configured && strings.EqualFold(t, "uncategorized")) {
			continue
		}
		dup := false
		for _, h := range out {
			if strings.EqualFold(h, t) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, t)
		}
	}
	return out
}

// image chooses the item's picture: media:content, media:thumbnail, an
// image enclosure, JSON Feed's image, else the first <img> of the content.
// Relative URLs are resolved against base (the item's, see itemBase).
func (p *parser) image(it *gofeed.Item, o orig, imgs []htmlImage, base *url.URL) *syndicate.Image {
	media := it.Extensions["media"]
	itemAlt := mediaText(media["description"])
	itemCredit := mediaText(media["credit"])
	altFromContent := func(u string) string {
		for _, im := range imgs {
			if im.url == u {
				return im.text()
			}
		}
		return ""
	}
	pick := func(u, alt, credit string) *syndicate.Image {
		if alt == "" {
			alt = itemAlt
		}
		if alt == "" {
			alt = altFromContent(u)
		}
		if credit == "" {
			credit = itemCredit
		}
		return &syndicate.Image{URL: u, Alt: alt, Credit: credit}
	}
	contents := media["content"]
	for _, g := range media["group"] {
		contents = append(contents, g.Children["content"]...)
	}
	for _, c := range contents {
		if !isImage(c.Attrs["type"], c.Attrs["medium"], c.Attrs["url"]) {
			continue
		}
		if u := absURL(base, c.Attrs["url"]); u != "" {
			return pick(u, mediaText(c.Children["description"]), mediaText(c.Children["credit"]))
		}
	}
	for _, t := range media["thumbnail"] {
		if u := absURL(base, t.Attrs["url"]); u != "" {
			return pick(u, "", "")
		}
	}
	for _, e := range it.Enclosures {
		if e != nil && strings.HasPrefix(strings.ToLower(strings.TrimSpace(e.Type)), "image/") {
			if u := absURL(base, e.URL); u != "" {
				return pick(u, "", "")
			}
		}
	}
	if o.json != nil && it.Image != nil {
		if u := absURL(base, it.Image.URL); u != "" {
			return pick(u, "", "")
		}
	}
	if len(imgs) > 0 {
		return &syndicate.Image{URL: imgs[0].url, Alt: imgs[0].text()}
	}
	return nil
}

// isImage reports a media:content that is a picture: by its medium or
// MIME type, or, when it gives neither, by its URL's extension.
func isImage(typ, medium, u string) bool {
	typ, medium = strings.ToLower(strings.TrimSpace(typ)), strings.ToLower(strings.TrimSpace(medium))
	if medium == "image" || strings.HasPrefix(typ, "image/") {
		return true
	}
	if medium != "" || typ != "" {
		return false
	}
	pu, err := url.Parse(strings.TrimSpace(u))
	if err != nil {
		return false
	}
	pth := strings.ToLower(pu.Path)
	for _, e := range []string{".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif"} {
		if strings.HasSuffix(pth, e) {
			return true
		}
	}
	return false
}

// mediaText is the text of the first Media RSS element of a kind
// (media:description, media:credit), read as HTML when it says so.
func mediaText(els []ext.Extension) string {
	for _, e := range els {
		var t string
		if strings.EqualFold(e.Attrs["type"], "html") {
			t = inlineText(e.Value)
		} else {
			t = clean(e.Value)
		}
		if t != "" {
			return t
		}
	}
	return ""
}

// shortHash is the part of an article ID made from an item's GUID or
// link: 12 hex digits of its SHA-256 (48 bits; two items of one feed share
// it with odds of about 1 in 10^10 at a thousand items).
func shortHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:6])
}

// contentHash is a digest of what the item says (title, link, its own
// categories and language, key points, text, picture): an edit of the item
// changes it; a new first-seen time, a changed date alone or the config's
// tags and language do not.
func contentHash(a *syndicate.Article, ownTags []string, ownLang string) string {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	list := func(l []string) {
		field(fmt.Sprint(len(l)))
		for _, s := range l {
			field(s)
		}
	}
	field("feed-item-v1")
	field(a.Title)
	field(a.URL)
	list(ownTags)
	field(ownLang)
	list(a.KeyPoints)
	list(a.Body)
	if a.Image != nil {
		list([]string{a.Image.URL, a.Image.Alt, a.Image.Credit})
	} else {
		list(nil)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
