package feed

import (
	"bytes"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/syndicate-bot/syndicate/syndicate/article"
	"github.com/syndicate-bot/syndicate/syndicate/text"
)

// block is one paragraph of an item's text: a paragraph, a heading, or an
// item of a list. list numbers the list an item belongs to (0: not in a
// list) and depth says how deeply that list is nested, so the key points
// below a heading can be told from a nested list inside one of them and
// from the next list.
type block struct {
	text    string
	heading bool
	list    int
	depth   int
}

// item is an open li: the list it belongs to (0: none) and that list's
// depth when the li opened.
type item struct{ list, depth int }

// htmlImage is an <img> of an item's content.
type htmlImage struct {
	url, alt, caption string
}

// text is what describes the picture: its alt text, else its caption.
func (im htmlImage) text() string {
	if im.alt != "" {
		return im.alt
	}
	return im.caption
}

// htmlText is what an item's HTML gives: its blocks and its pictures.
type htmlText struct {
	blocks []block
	images []htmlImage
}

// maxImages bounds the pictures remembered from one item's HTML; only the
// first is ever used, the others only lend their alt text to a media:content
// picture of the same URL.
const maxImages = 32

// HTMLToParagraphs returns the text of an HTML fragment as paragraphs,
// normalised as article text is (text.Normalize; invalid UTF-8 and control
// characters dropped). It uses a real HTML parser: block elements (p, div,
// li, headings, blockquote, table rows, …) end a paragraph, two <br> in a
// row end one too, a single <br> is a space; scripts, styles, forms,
// embedded media and figure captions give no text; entities are decoded.
func HTMLToParagraphs(src string) []string {
	h := parseHTML(src, nil)
	out := make([]string, 0, len(h.blocks))
	for _, b := range h.blocks {
		out = append(out, b.text)
	}
	return out
}

// inlineText is the text of a short HTML value (a title, a category, an
// alt text) on one line. Feeds put markup and entities in titles often
// enough ("Tom &amp;amp; Jerry", Atom's type="html") that every title is
// read as HTML.
func inlineText(src string) string {
	if !strings.ContainsAny(src, "<&") {
		return clean(src)
	}
	return strings.Join(HTMLToParagraphs(src), " ")
}

// clean makes s article text: valid UTF-8, normalised, without control
// characters.
func clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\ufffd")
	}
	return text.Normalize(s)
}

// skipped elements give no text: code, styling, forms, embedded players
// (whose fallback text says "your browser does not support …").
var skipped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Iframe: true, atom.Object: true, atom.Embed: true, atom.Svg: true, atom.Math: true,
	atom.Head: true, atom.Title: true, atom.Form: true, atom.Button: true, atom.Select: true,
	atom.Textarea: true, atom.Input: true, atom.Audio: true, atom.Video: true, atom.Canvas: true,
	atom.Map: true,
}

// skippedClasses are the classes of boilerplate that publishing platforms
// put in every post's feed content: Substack's subscribe widget and
// buttons ("Subscribe now", "Share").
var skippedClasses = map[string]bool{
	"subscription-widget-wrap": true, "subscription-widget-wrap-editor": true,
	"button-wrapper": true, "captioned-button-wrap": true,
}

// isSkipped reports an element that gives no text.
func isSkipped(n *html.Node) bool {
	if skipped[n.DataAtom] {
		return true
	}
	for _, a := range n.Attr {
		if a.Key == "class" {
			for _, c := range strings.Fields(a.Val) {
				if skippedClasses[c] {
					return true
				}
			}
		}
	}
	return false
}

// blockElements end the paragraph before them and their own.
var blockElements = map[atom.Atom]bool{
	atom.Address: true, atom.Article: true, atom.Aside: true, atom.Blockquote: true,
	atom.Caption: true, atom.Center: true, atom.Dd: true, atom.Details: true, atom.Dialog: true,
	atom.Div: true, atom.Dl: true, atom.Dt: true, atom.Fieldset: true, atom.Figcaption: true,
	atom.Figure: true, atom.Footer: true, atom.H1: true, atom.H2: true, atom.H3: true,
	atom.H4: true, atom.H5: true, atom.H6: true, atom.Header: true, atom.Hgroup: true,
	atom.Hr: true, atom.Li: true, atom.Main: true, atom.Nav: true, atom.Ol: true, atom.P: true,
	atom.Pre: true, atom.Section: true, atom.Summary: true, atom.Table: true, atom.Tbody: true,
	atom.Thead: true, atom.Tfoot: true, atom.Tr: true, atom.Ul: true,
}

var headings = map[atom.Atom]bool{
	atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
}

// walker turns a parsed HTML tree into blocks. It walks without recursion,
// so no nesting depth can exhaust the stack.
type walker struct {
	base    *url.URL
	out     htmlText
	cur     strings.Builder
	heading int    // open heading elements
	lists   []int  // open ul/ol, innermost last: their numbers
	items   []item // open li, innermost last
	next    int    // the last list number given
	br      bool   // the last thing written was a <br>
	caption int    // open figcaption elements
	capText strings.Builder
	figure  []int // open figures: the index of their first image, or -1
}

// parseHTML parses an HTML fragment as the body of a page would be, and
// resolves image URLs against base (nil: only absolute URLs are kept).
func parseHTML(src string, base *url.URL) htmlText {
	w := &walker{base: base}
	nodes, err := html.ParseFragment(strings.NewReader(src), &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body})
	if err != nil {
		// The tree builder refuses nesting deeper than 512 elements; the
		// tokenizer reads such HTML flat, without lists.
		return tokenWalk(src, base)
	}
	root := &html.Node{Type: html.DocumentNode}
	for _, n := range nodes {
		root.AppendChild(n)
	}
	n := root
	for n != nil {
		if w.enter(n) && n.FirstChild != nil {
			n = n.FirstChild
			continue
		}
		for n != nil {
			w.leave(n)
			if n == root {
				n = nil
				break
			}
			if n.NextSibling != nil {
				n = n.NextSibling
				break
			}
			n = n.Parent
		}
	}
	w.flush()
	return w.out
}

// enter handles the start of a node and says whether to walk into it.
func (w *walker) enter(n *html.Node) bool {
	switch n.Type {
	case html.TextNode:
		if w.caption > 0 {
			w.capText.WriteString(n.Data)
			return false
		}
		if strings.TrimSpace(n.Data) != "" {
			w.br = false
		}
		w.cur.WriteString(n.Data)
		return false
	case html.DocumentNode:
		return true
	case html.ElementNode:
	default:
		return false // comments, doctypes
	}
	if isSkipped(n) {
		return false
	}
	switch n.DataAtom {
	case atom.Br:
		if w.caption > 0 {
			w.capText.WriteByte(' ')
			return false
		}
		if w.br {
			w.flush() // two <br> in a row end a paragraph
			w.br = false
			return false
		}
		w.br = true
		w.cur.WriteByte(' ')
		return false
	case atom.Img:
		w.image(n)
		return false
	case atom.Td, atom.Th:
		w.cur.WriteByte(' ')
		return true
	case atom.Figcaption:
		w.flush()
		w.caption++
		return true
	case atom.Figure:
		w.flush()
		w.figure = append(w.figure, -1)
		return true
	}
	if blockElements[n.DataAtom] {
		w.flush()
	}
	switch {
	case headings[n.DataAtom]:
		w.heading++
	case n.DataAtom == atom.Ul || n.DataAtom == atom.Ol:
		w.next++
		w.lists = append(w.lists, w.next)
	case n.DataAtom == atom.Li:
		it := item{depth: len(w.lists)}
		if len(w.lists) > 0 {
			it.list = w.lists[len(w.lists)-1]
		}
		w.items = append(w.items, it)
	}
	return true
}

// leave handles the end of a node (after its children, if walked into).
func (w *walker) leave(n *html.Node) {
	if n.Type != html.ElementNode || isSkipped(n) {
		return
	}
	switch n.DataAtom {
	case atom.Figcaption:
		if w.caption == 0 {
			return
		}
		w.caption--
		if w.caption == 0 {
			if c := clean(w.capText.String()); c != "" && len(w.figure) > 0 {
				if i := w.figure[len(w.figure)-1]; i >= 0 && w.out.images[i].caption == "" {
					w.out.images[i].caption = c
				}
			}
			w.capText.Reset()
		}
		return
	case atom.Figure:
		w.flush()
		if len(w.figure) > 0 {
			w.figure = w.figure[:len(w.figure)-1]
		}
		return
	}
	if blockElements[n.DataAtom] {
		w.flush()
	}
	switch {
	case headings[n.DataAtom]:
		if w.heading > 0 {
			w.heading--
		}
	case n.DataAtom == atom.Ul || n.DataAtom == atom.Ol:
		if len(w.lists) > 0 {
			w.lists = w.lists[:len(w.lists)-1]
		}
	case n.DataAtom == atom.Li:
		if len(w.items) > 0 {
			w.items = w.items[:len(w.items)-1]
		}
	}
}

// tokenWalk reads HTML flat, token by token, for what the tree builder
// refuses: start and end tags are entered and left as they come (lists
// keep their items only while their tags balance), skipped elements are
// skipped to their end tag.
func tokenWalk(src string, base *url.URL) htmlText {
	w := &walker{base: base}
	z := html.NewTokenizer(strings.NewReader(src))
	skip := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		tok := z.Token()
		n := &html.Node{Type: html.ElementNode, Data: tok.Data, DataAtom: tok.DataAtom, Attr: tok.Attr}
		switch tt {
		case html.TextToken:
			if skip == 0 {
				w.enter(&html.Node{Type: html.TextNode, Data: tok.Data})
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			void := tt == html.SelfClosingTagToken || voidElements[tok.DataAtom]
			if skipped[tok.DataAtom] {
				if !void {
					skip++
				}
				continue
			}
			if skip > 0 {
				continue
			}
			w.enter(n)
			if void {
				w.leave(n)
			}
		case html.EndTagToken:
			if skipped[tok.DataAtom] {
				if skip > 0 {
					skip--
				}
				continue
			}
			if skip == 0 && !voidElements[tok.DataAtom] {
				w.leave(n)
			}
		}
	}
	w.flush()
	return w.out
}

var voidElements = map[atom.Atom]bool{
	atom.Area: true, atom.Base: true, atom.Br: true, atom.Col: true, atom.Embed: true, atom.Hr: true,
	atom.Img: true, atom.Input: true, atom.Link: true, atom.Meta: true, atom.Source: true, atom.Track: true, atom.Wbr: true,
}

// flush ends the paragraph being written.
func (w *walker) flush() {
	w.br = false
	if w.cur.Len() == 0 {
		return
	}
	t := clean(w.cur.String())
	w.cur.Reset()
	if t == "" {
		return
	}
	b := block{text: t, heading: w.heading > 0}
	if len(w.items) > 0 {
		// The depth of the item's list: where it was when the li opened,
		// if it is still open there (list numbers are unique and the
		// stack only grows and shrinks at its end), else below every
		// open list. Looked up, not searched: flat HTML may hold a
		// million open lists.
		it := w.items[len(w.items)-1]
		b.list, b.depth = it.list, len(w.lists)
		if it.depth > 0 && it.depth <= len(w.lists) && w.lists[it.depth-1] == it.list {
			b.depth = it.depth
		}
	}
	w.out.blocks = append(w.out.blocks, b)
}

// image records an <img> that can be a post's picture: an http(s) URL,
// and not a tracking pixel (1×1 or 0×0).
func (w *walker) image(n *html.Node) {
	if len(w.out.images) >= maxImages {
		return
	}
	var src, alt, width, height string
	for _, a := range n.Attr {
		switch a.Key {
		case "src":
			src = a.Val
		case "alt":
			alt = a.Val
		case "width":
			width = strings.TrimSpace(a.Val)
		case "height":
			height = strings.TrimSpace(a.Val)
		}
	}
	if width == "0" || width == "1" || height == "0" || height == "1" {
		return
	}
	u := absURL(w.base, src)
	if u == "" {
		return
	}
	w.out.images = append(w.out.images, htmlImage{url: u, alt: clean(alt)})
	if len(w.figure) > 0 && w.figure[len(w.figure)-1] < 0 {
		w.figure[len(w.figure)-1] = len(w.out.images) - 1
	}
}

// absURL resolves ref against base and returns it when it is an http(s)
// URL with a host, else "".
func absURL(base *url.URL, ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" || len(ref) > maxURLLength {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil {
		return ""
	}
	if base != nil {
		u = base.ResolveReference(u)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ""
	}
	return u.String()
}

// maxURLLength bounds a link or picture URL taken from a feed.
const maxURLLength = 4096

// textBlocks reads plain text (JSON Feed's content_text, Atom's
// type="text") as blocks: paragraphs separated by blank lines, and lines
// that start with a bullet (• - * – or 1. 1)) as the items of a list, a
// line indented under a bullet continuing it. This is the plain-text news
// form of the articles folder.
func textBlocks(src string) []block {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	src = strings.ReplaceAll(src, "\r", "\n")
	var out []block
	var para []string
	flush := func() {
		if len(para) > 0 {
			if t := clean(strings.Join(para, " ")); t != "" {
				out = append(out, block{text: t})
			}
			para = para[:0]
		}
	}
	lastBullet := false
	for _, raw := range strings.Split(src, "\n") {
		t := clean(raw)
		if t == "" {
			flush()
			lastBullet = false
			continue
		}
		if point, ok := article.BulletText(t); ok {
			flush()
			if point != "" {
				out = append(out, block{text: point, list: 1, depth: 1})
			}
			lastBullet = true
			continue
		}
		indented := strings.HasPrefix(raw, " ") || strings.HasPrefix(raw, "\t")
		if lastBullet && indented && len(out) > 0 {
			out[len(out)-1].text += " " + t // a wrapped bullet
			continue
		}
		lastBullet = false
		if article.IsKeyPointsHeading(t) {
			flush()
			out = append(out, block{text: t, heading: true})
			continue
		}
		para = append(para, t)
	}
	flush()
	return out
}

// keyPoints takes the key points out of an item's blocks: a "Key points"
// block (a heading, a paragraph, a <strong> line) followed directly by a
// list gives that list's items as key points (the items of a list nested
// in one continue it); the heading and the list leave the body. Without one, there are no key points (the caller runs
// the extractor).
func keyPoints(blocks []block) (points []string, body []block) {
	for i := 0; i+1 < len(blocks); i++ {
		if blocks[i].list != 0 || !article.IsKeyPointsHeading(blocks[i].text) || blocks[i+1].list == 0 {
			continue
		}
		first := blocks[i+1]
		j := i + 1
		for ; j < len(blocks) && blocks[j].list != 0 && (blocks[j].list == first.list || blocks[j].depth > first.depth); j++ {
			switch {
			case blocks[j].list == first.list:
				points = append(points, blocks[j].text)
			case len(points) > 0: // a nested list continues its point
				points[len(points)-1] += " " + blocks[j].text
			}
		}
		body = append(append(body, blocks[:i]...), blocks[j:]...)
		return points, body
	}
	return nil, blocks
}

// looksLikeHTMLPage reports whether data, which no feed parser took, is
// an HTML page: its first tag is <html>, <head> or <body>, or its doctype
// says html. It also returns the feed such a page names in a
// <link rel="alternate">, if any.
func looksLikeHTMLPage(data []byte, base *url.URL) (bool, string) {
	const peek = 64 << 10
	z := html.NewTokenizer(io.LimitReader(bytes.NewReader(data), 1<<20))
	isPage := false
	for read := 0; ; {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return isPage, ""
		case html.DoctypeToken:
			if f := strings.Fields(string(z.Text())); !isPage && len(f) > 0 && strings.EqualFold(f[0], "html") {
				isPage = true
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			if !isPage {
				if tag != "html" && tag != "head" && tag != "body" {
					return false, ""
				}
				isPage = true
			}
			if tag == "link" && hasAttr {
				var rel, typ, href string
				for {
					k, v, more := z.TagAttr()
					switch string(k) {
					case "rel":
						rel = strings.ToLower(string(v))
					case "type":
						typ = strings.ToLower(strings.TrimSpace(string(v)))
					case "href":
						href = string(v)
					}
					if !more {
						break
					}
				}
				if strings.Contains(rel, "alternate") && (typ == "application/rss+xml" || typ == "application/atom+xml" || typ == "application/feed+json" || typ == "application/json") {
					if u := absURL(base, href); u != "" {
						return true, u
					}
				}
			}
			if tag == "body" {
				return isPage, ""
			}
		}
		if read += len(z.Raw()); read > peek && !isPage {
			return false, ""
		}
	}
}
