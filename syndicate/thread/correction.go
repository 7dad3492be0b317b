package thread

import (
	"regexp"
	"strings"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// CorrectionPrefix opens every reply that corrects a thread.
const CorrectionPrefix = "Correction: "

// Removed is the text a post whose key point was removed is edited to
// when replies follow it (deleting it would cut the chain).
const Removed = "(removed)"

var numbering = regexp.MustCompile(`\n\n[0-9]+/[0-9]+$`)

// WithoutNumbering is a post's text without its "i/N" numbering suffix
// (as Compose adds it), so that a post whose text changed only because
// the thread's length did can be told apart.
func WithoutNumbering(text string) string { return numbering.ReplaceAllString(text, "") }

// Correction composes the replies that correct an article's thread with
// text: "Correction: " and the text, split where it is longer than a post
// (each part a reply of its own), with the article's content warning and
// language as Compose gives its replies, unnumbered. A feed item's
// mentions are defanged, as in its thread.
func Correction(a *syndicate.Article, text string, opts Options) []syndicate.Post {
	if a.FromFeed() {
		text = Defang(text)
	}
	r := rulesFor(a, opts)
	lim, cw, prefix, counting, lang := r.lim, r.cw, r.prefix, r.counting, r.lang
	length := func(s string) int { return counting.Length(cw, prefix+s, lim.URLLength) }
	body := CorrectionPrefix + strings.TrimSpace(text)
	var out []syndicate.Post
	for _, part := range Split(body, func(s string) bool { return length(s) <= lim.MaxCharacters }) {
		out = append(out, syndicate.Post{Text: prefix + part, ContentWarning: cw, Visibility: opts.ReplyVisibility, Language: lang, Length: length(part)})
	}
	return out
}
