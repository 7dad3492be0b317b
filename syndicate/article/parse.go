// Package article reads article files: optional YAML front matter, the
// plain-text news form with a KEY POINTS block, and the photo caption and
// credit that news exports print at the end. Every problem is reported as
// an *Error naming the file and line; nothing here panics on any input.
package article

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rivo/uniseg"
	"go.yaml.in/yaml/v3"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/files"
	"github.com/syndicate-bot/syndicate/syndicate/text"
)

// MaxSize is the largest article file accepted. Anything bigger is almost
// certainly not an article (a stray archive, a log) and would slow every run.
const MaxSize = 1 << 20

// Error is a problem with one article, at a line of its file.
type Error struct {
	Path string
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg) }

// Options are the settings parsing depends on.
type Options struct {
	// BaseURL, when set, gives articles without a url their link: BaseURL + ID.
	BaseURL string
	// Location is the time zone of front-matter dates written without one.
	Location *time.Location
	// Images checks a picture an article names (inside the allowed
	// folders, a regular file, an image by its bytes, within ImageLimit);
	// nil skips the check. LoadDir sets it for the articles folder and
	// MediaDirs.
	Images ImageChecker
	// ImageLimit is the largest picture accepted (0: files.MaxImageSize).
	ImageLimit int64
	// MediaDirs are folders besides the articles folder that pictures may
	// come from (a static site's static/images).
	MediaDirs []string
	// Cache, when set, keeps parsed articles between loads (the daemon).
	Cache *Cache
	// Extract, when set, chooses key points from the body of an article
	// that has none (see package keypoints); lang is the article's.
	Extract func(paragraphs []string, lang string) []string
}

// ImageChecker checks a picture file without reading more than its start.
type ImageChecker interface {
	Check(path string, limit int64) (mimeType string, err error)
}

// ID returns the article ID of a file: its name without the extension.
func ID(path string) string {
	base := filepath.Base(path)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// IsArticleFile reports whether a file name is one the bot reads.
func IsArticleFile(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") || strings.HasSuffix(name, "~") {
		return false // hidden files and editors' scratch copies
	}
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".txt" || ext == ".md"
}

// Parse reads one article from its bytes. path names the file in errors and
// gives the ID; the file system is only touched through opts.Images.
func Parse(path string, data []byte, opts Options) (*syndicate.Article, error) {
	fail := func(line int, format string, args ...any) (*syndicate.Article, error) {
		return nil, &Error{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if len(data) > MaxSize {
		return fail(1, "file is %d bytes, over the %d-byte (1 MiB) limit", len(data), MaxSize)
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return fail(lineAt(data, i), "binary data (NUL byte), not a text article")
	}
	if i := invalidUTF8(data); i >= 0 {
		return fail(lineAt(data, i), "invalid UTF-8 (byte 0x%02x); save the file as UTF-8", data[i])
	}
	sum := sha256.Sum256(data)
	src := string(data)
	src = strings.TrimPrefix(src, "\ufeff")
	src = strings.ReplaceAll(src, "\r\n", "\n")
	src = strings.ReplaceAll(src, "\r", "\n")
	if strings.TrimSpace(src) == "" {
		return fail(1, "empty article")
	}

	a := &syndicate.Article{ID: ID(path), Path: path, Hash: hex.EncodeToString(sum[:16]), Source: "folder"}
	if a.ID == "" {
		return fail(1, "file name gives an empty article ID")
	}
	lines := strings.Split(src, "\n")
	bodyStart := 0 // index into lines
	var fm frontMatter
	if strings.TrimRight(lines[0], " \t") == "---" {
		end := -1
		for i := 1; i < len(lines); i++ {
			if l := strings.TrimRight(lines[i], " \t"); l == "---" || l == "..." {
				end = i
				break
			}
		}
		if end < 0 {
			return fail(1, "front matter opened with --- is never closed (add a line with --- after it)")
		}
		if err := fm.parse(strings.Join(lines[1:end], "\n"), 2); err != nil {
			err.Path = path
			return nil, err
		}
		bodyStart = end + 1
	}
	if err := fm.apply(a, opts); err != nil {
		err.Path = path
		return nil, err
	}

	b := parseBody(lines[bodyStart:])
	if a.Title == "" {
		a.Title = b.headline
	}
	if fm.keyPoints == nil {
		a.KeyPoints = b.keyPoints
	}
	a.Body = b.paragraphs
	if b.caption != "" {
		if a.Image == nil {
			a.Image = &syndicate.Image{}
		}
		if a.Image.Alt == "" {
			a.Image.Alt = b.caption
		}
		if a.Image.Credit == "" {
			a.Image.Credit = b.credit
		}
	}
	if err := Finish(a, FinishOptions{KeyPointsGiven: fm.keyPoints != nil, Extract: opts.Extract, BaseURL: opts.BaseURL}); err != nil {
		return fail(bodyStart+1, "%v", err)
	}
	return a, nil
}

// frontMatter is what the YAML header said, with the line of each key so a
// later check (a missing image) can still point at it.
type frontMatter struct {
	title, url, image, imageAlt, credit, lang, cw string
	date                                          time.Time
	dateRaw                                       string
	dateLine, imageLine, langLine                 int
	tags, keyPoints                               []string
	draft                                         bool
	imageURL                                      string // image_url: the picture's public URL
	imageURLLine                                  int
	correction                                    string // correction: a correction of the article
	correctionLine                                int
	retracted                                     bool
}

// MaxCorrection is the most grapheme clusters a front matter's correction
// may have: it goes out as a reply and into the digest.
const MaxCorrection = 500

var yamlLine = regexp.MustCompile(`line (\d+)`)

// parse decodes the front matter text; firstLine is the file line its
// first line sits on, so every error points into the file.
func (fm *frontMatter) parse(src string, firstLine int) *Error {
	if doc, ok := simpleYAML(src); ok {
		return fm.fromNode(doc, firstLine)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		line := firstLine
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			if n, convErr := strconv.Atoi(m[1]); convErr == nil {
				line = firstLine + n - 1
			}
			msg = strings.TrimSpace(yamlLine.ReplaceAllString(msg, ""))
			msg = strings.TrimPrefix(msg, ": ")
		}
		return &Error{Line: line, Msg: "front matter: " + msg}
	}
	return fm.fromNode(&doc, firstLine)
}

// fromNode reads the front matter's node tree.
func (fm *frontMatter) fromNode(doc *yaml.Node, firstLine int) *Error {
	if len(doc.Content) == 0 {
		return nil // empty front matter
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return &Error{Line: firstLine + root.Line - 1, Msg: "front matter must be key: value lines"}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		line := firstLine + k.Line - 1
		if seen[k.Value] {
			return &Error{Line: line, Msg: fmt.Sprintf("front matter: key %q given twice", k.Value)}
		}
		seen[k.Value] = true
		var err error
		switch k.Value {
		case "title":
			err = decodeString(v, &fm.title)
		case "url":
			err = decodeString(v, &fm.url)
			if err == nil && fm.url != "" {
				u, perr := url.Parse(fm.url)
				if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					err = fmt.Errorf("not an http(s) URL: %q", fm.url)
				}
			}
		case "date":
			fm.dateLine = line
			err = decodeString(v, &fm.dateRaw)
		case "tags":
			err = decodeStrings(v, &fm.tags)
		case "image":
			fm.imageLine = line
			err = decodeString(v, &fm.image)
		case "image_url":
			fm.imageURLLine = line
			err = decodeString(v, &fm.imageURL)
		case "image_alt":
			err = decodeString(v, &fm.imageAlt)
		case "credit":
			err = decodeString(v, &fm.credit)
		case "key_points":
			err = decodeStrings(v, &fm.keyPoints)
			if err == nil && fm.keyPoints == nil {
				fm.keyPoints = []string{}
			}
		case "lang":
			fm.langLine = line
			err = decodeString(v, &fm.lang)
		case "content_warning":
			err = decodeString(v, &fm.cw)
		case "draft":
			err = decodeBool(v, &fm.draft)
		case "correction":
			fm.correctionLine = firstLine + v.Line - 1
			err = decodeString(v, &fm.correction)
		case "retracted":
			err = decodeBool(v, &fm.retracted)
		default:
			return &Error{Line: line, Msg: fmt.Sprintf("front matter: unknown key %q (known: title, url, date, tags, image, image_url, image_alt, credit, key_points, lang, content_warning, draft, correction, retracted)", k.Value)}
		}
		if err != nil {
			return &Error{Line: firstLine + v.Line - 1, Msg: fmt.Sprintf("front matter: %s: %v", k.Value, err)}
		}
	}
	return nil
}

func decodeBool(v *yaml.Node, dst *bool) error {
	if v.Kind != yaml.ScalarNode {
		return fmt.Errorf("want true or false")
	}
	if err := v.Decode(dst); err != nil {
		return fmt.Errorf("want true or false, not %q", v.Value)
	}
	return nil
}

func decodeString(v *yaml.Node, dst *string) error {
	if v.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a single value")
	}
	*dst = v.Value
	return nil
}

func decodeStrings(v *yaml.Node, dst *[]string) error {
	switch v.Kind {
	case yaml.SequenceNode:
		out := make([]string, 0, len(v.Content))
		for _, item := range v.Content {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("want a list of plain values")
			}
			out = append(out, item.Value)
		}
		*dst = out
		return nil
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return nil
		}
		// A single value is a list of one: "tags: climate".
		*dst = []string{v.Value}
		return nil
	}
	return fmt.Errorf("want a list")
}

var dateLayouts = []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"}

var langCode = regexp.MustCompile(`^[a-zA-Z]{2,3}([-_][A-Za-z0-9]{2,8})*$`)

// apply copies the front matter into the article, checking the values that
// need the options (time zone, image file).
func (fm *frontMatter) apply(a *syndicate.Article, opts Options) *Error {
	a.Title = text.Normalize(fm.title)
	a.URL = strings.TrimSpace(fm.url)
	a.Draft = fm.draft
	a.Lang = strings.TrimSpace(fm.lang)
	a.ContentWarning = text.Normalize(fm.cw)
	a.Correction = text.Normalize(fm.correction)
	a.Retracted = fm.retracted
	if n := uniseg.GraphemeClusterCount(a.Correction); n > MaxCorrection {
		return &Error{Line: fm.correctionLine, Msg: fmt.Sprintf("front matter: correction: %d characters, more than %d; say it shorter", n, MaxCorrection)}
	}
	if a.Lang != "" && !langCode.MatchString(a.Lang) {
		return &Error{Line: fm.langLine, Msg: fmt.Sprintf("front matter: lang: %q is not a language code like en or pt-BR", a.Lang)}
	}
	for _, t := range fm.tags {
		if t = text.Normalize(t); t != "" {
			a.Tags = append(a.Tags, t)
		}
	}
	if fm.keyPoints != nil {
		a.KeyPoints = []string{}
		for _, k := range fm.keyPoints {
			if k = text.Normalize(k); k != "" {
				a.KeyPoints = append(a.KeyPoints, k)
			}
		}
	}
	if raw := strings.TrimSpace(fm.dateRaw); raw != "" {
		loc := opts.Location
		if loc == nil {
			loc = time.UTC
		}
		var parsed bool
		for _, layout := range dateLayouts {
			if t, err := time.ParseInLocation(layout, raw, loc); err == nil {
				a.Date, parsed = t, true
				break
			}
		}
		if !parsed {
			return &Error{Line: fm.dateLine, Msg: fmt.Sprintf("front matter: date: %q is not a date like 2024-05-01 or 2024-05-01T09:30:00+02:00", raw)}
		}
	}
	if fm.image != "" || fm.imageURL != "" || fm.imageAlt != "" || fm.credit != "" {
		a.Image = &syndicate.Image{Alt: text.Normalize(fm.imageAlt), Credit: text.Normalize(fm.credit)}
	}
	if u := strings.TrimSpace(fm.imageURL); u != "" {
		if err := syndicate.CheckImageURL(u); err != nil {
			return &Error{Line: fm.imageURLLine, Msg: fmt.Sprintf("front matter: image_url: %q %v", text.Shorten(u, 80), err)}
		}
		a.Image.URL = u
	}
	if img := strings.TrimSpace(fm.image); img != "" {
		if filepath.IsAbs(img) {
			return &Error{Line: fm.imageLine, Msg: fmt.Sprintf("front matter: image: %q must be relative to the article", img)}
		}
		p := filepath.Join(filepath.Dir(a.Path), filepath.FromSlash(img))
		if opts.Images != nil {
			limit := opts.ImageLimit
			if limit <= 0 {
				limit = files.MaxImageSize
			}
			if _, err := opts.Images.Check(p, limit); err != nil {
				return &Error{Line: fm.imageLine, Msg: "front matter: image: " + err.Error()}
			}
		}
		a.Image.Path = p
	}
	return nil
}

// body is what the text after the front matter holds.
type body struct {
	headline        string
	keyPoints       []string
	paragraphs      []string
	caption, credit string
}

var (
	keyPointsHeading = regexp.MustCompile(`(?i)^#{0,6}\s*key\s*points\s*:?\s*$`)
	mdHeading        = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*$`)
)

// The helpers below look at the first character before running a regexp:
// most lines are body text and this keeps parsing fast.

// IsKeyPointsHeading reports a "Key points" heading in any case, with or
// without a colon ("KEY POINTS", "Key points:", "## Key points"): the
// folder's plain-text form and a feed item's text alike.
func IsKeyPointsHeading(t string) bool {
	return t != "" && len(t) < 40 && (t[0] == '#' || t[0] == 'k' || t[0] == 'K') && keyPointsHeading.MatchString(t)
}

// BulletText returns the text of a bullet line: a bullet mark (• - * –
// — · ▪ ● ◦) or a number of one or two digits and "." or ")", then space.
// (Lines are normalised: one space, no tabs.)
func BulletText(t string) (string, bool) {
	if t == "" {
		return "", false
	}
	r, size := utf8.DecodeRuneInString(t)
	rest := ""
	switch {
	case strings.ContainsRune("•-*–—·▪●◦", r):
		rest = t[size:]
	case r >= '0' && r <= '9':
		i := 1
		if i < len(t) && t[i] >= '0' && t[i] <= '9' {
			i++
		}
		if i >= len(t) || (t[i] != '.' && t[i] != ')') {
			return "", false
		}
		rest = t[i+1:]
	default:
		return "", false
	}
	if rest == "" || rest[0] != ' ' {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

func isBullet(t string) bool {
	_, ok := BulletText(t)
	return ok
}

// headingText returns the text of a markdown heading line.
func headingText(t string) (string, bool) {
	if t == "" || t[0] != '#' {
		return "", false
	}
	m := mdHeading.FindStringSubmatch(t)
	if m == nil {
		return "", false
	}
	return m[1], true
}

func parseBody(raw []string) body {
	var b body
	lines := make([]bodyLine, len(raw))
	for i, r := range raw {
		lines[i] = bodyLine{text: text.Normalize(r), indented: strings.HasPrefix(r, " ") || strings.HasPrefix(r, "\t") || strings.HasPrefix(r, "\u00a0")}
	}
	// Trailing caption: the last non-blank line repeats the one before it,
	// followed by the credit ("… sworn in" / "… sworn in AFP / Asif HASSAN").
	last, prev := -1, -1
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i].text == "" {
			continue
		}
		if last < 0 {
			last = i
		} else {
			prev = i
			break
		}
	}
	if prev >= 0 {
		c, l := lines[prev].text, lines[last].text
		if rest, ok := strings.CutPrefix(l, c); ok && (rest == "" || (rest[0] == ' ' && uniseg.GraphemeClusterCount(rest) <= 120)) && !isBullet(c) {
			b.caption, b.credit = c, strings.TrimSpace(rest)
			lines = lines[:prev]
		}
	}

	i := 0
	skipBlank := func() {
		for i < len(lines) && lines[i].text == "" {
			i++
		}
	}
	skipBlank()
	// Headline: a markdown "# Title", or a short first line standing alone
	// that does not read like a sentence.
	if i < len(lines) {
		t := lines[i].text
		nextBlank := i+1 >= len(lines) || lines[i+1].text == ""
		if h, ok := headingText(t); ok && strings.HasPrefix(t, "# ") && !IsKeyPointsHeading(t) {
			b.headline = h
			i++
		} else if nextBlank && !IsKeyPointsHeading(t) && !isBullet(t) &&
			uniseg.GraphemeClusterCount(t) <= 150 && !strings.HasSuffix(t, ".") && !strings.HasSuffix(t, ":") &&
			hasText(lines[i+1:]) {
			b.headline = t
			i++
		}
	}

	var para []string
	flush := func() {
		if len(para) > 0 {
			b.paragraphs = append(b.paragraphs, strings.Join(para, " "))
			para = para[:0]
		}
	}
	inPoints, pointsDone := false, false
	for ; i < len(lines); i++ {
		t := lines[i].text
		if !pointsDone && !inPoints && IsKeyPointsHeading(t) {
			flush()
			inPoints = true
			continue
		}
		if inPoints {
			if t == "" {
				// A blank line ends the block unless another bullet follows.
				j := i + 1
				for j < len(lines) && lines[j].text == "" {
					j++
				}
				if len(b.keyPoints) > 0 && (j >= len(lines) || !isBullet(lines[j].text)) {
					inPoints, pointsDone = false, true
				}
				continue
			}
			if point, ok := BulletText(t); ok {
				if point != "" {
					b.keyPoints = append(b.keyPoints, point)
				}
				continue
			}
			if len(b.keyPoints) > 0 && lines[i].indented && lines[i-1].text != "" {
				b.keyPoints[len(b.keyPoints)-1] += " " + t // a wrapped bullet
				continue
			}
			// Text that is not a bullet ends the block.
			inPoints, pointsDone = false, true
		}
		if t == "" {
			flush()
			continue
		}
		if h, ok := headingText(t); ok {
			flush()
			if h != "" {
				b.paragraphs = append(b.paragraphs, h)
			}
			continue
		}
		para = append(para, t)
	}
	flush()
	return b
}

// bodyLine is one normalised line and whether it was indented, which tells
// a wrapped bullet from the paragraph after the key points.
type bodyLine struct {
	text     string
	indented bool
}

func hasText(lines []bodyLine) bool {
	for _, l := range lines {
		if l.text != "" {
			return true
		}
	}
	return false
}

func lineAt(data []byte, offset int) int {
	return bytes.Count(data[:offset], []byte{'\n'}) + 1
}

// invalidUTF8 returns the offset of the first byte that is not valid UTF-8,
// or -1.
func invalidUTF8(data []byte) int {
	if utf8.Valid(data) {
		return -1
	}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}
