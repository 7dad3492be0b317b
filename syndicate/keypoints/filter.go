package keypoints

// Candidate filters: which sentences may be a key point at all. A key
// point is read on its own, in a post, away from the article, so a
// sentence that only makes sense beside its neighbours (a caption, a
// credit, a quote's second half, a question) is left out before scoring,
// however central it is.

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	captionWords = map[string]bool{"photo": true, "photos": true, "image": true, "video": true, "pictured": true,
		"caption": true, "credit": true, "source": true, "watch": true, "related": true, "click": true}
	creditRe = regexp.MustCompile(`(?i)\b(?:afp|ap|reuters|epa)\s*/\s*\p{Lu}|/\s*(?:afp|ap|reuters|getty)\b`)
)

// isCaption reports a photo caption or credit line.
func isCaption(s string) bool {
	first, _, _ := strings.Cut(s, " ")
	first = strings.ToLower(strings.TrimRight(first, ":"))
	if captionWords[first] || first == "read" && strings.HasPrefix(strings.ToLower(s), "read more") {
		return true
	}
	if strings.Contains(s, "Getty Images") || strings.Contains(s, "getty images") {
		return true
	}
	return strings.IndexByte(s, '/') >= 0 && creditRe.MatchString(s)
}

// Usable reports whether a sentence can be a key point: at least 6 words,
// not a caption or credit, not a quote fragment.
func Usable(s string) bool {
	if len(strings.Fields(s)) < 6 {
		return false
	}
	if isCaption(s) {
		return false
	}
	first, _ := utf8.DecodeRuneInString(s)
	if unicode.IsLower(first) || strings.ContainsRune(",;:…)]", first) {
		return false // it continues something
	}
	if n := strings.Count(s, `"`); n%2 == 1 {
		return false // a quote opened or closed elsewhere
	}
	if strings.Count(s, "“") != strings.Count(s, "”") {
		return false
	}
	if strings.HasSuffix(s, "?") {
		return false // a question is not a point
	}
	return true
}
