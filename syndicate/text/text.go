// Package text holds the small text operations every other package
// shares: normalising what newsroom exports contain and shortening at a
// word boundary by grapheme clusters (what a reader sees as characters).
package text

import (
	"strings"
	"unicode"

	"github.com/rivo/uniseg"
	"golang.org/x/text/unicode/norm"
)

// Normalize returns s in Unicode NFC with every kind of space (no-break
// spaces, tabs, runs of spaces) collapsed to one ASCII space and the ends
// trimmed. Newsroom exports are full of U+00A0 next to ordinary spaces; two
// spaces would count twice against the post limit and look wrong.
func Normalize(s string) string {
	if IsPlainASCII(s) || isNormal(s) {
		return s
	}
	s = norm.NFC.String(s)
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if r == '\ufeff' { // a byte-order mark is not text
			continue
		}
		if unicode.IsSpace(r) || r == '\u00a0' || r == '\u202f' || r == '\u2007' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// Shorten cuts s to at most n grapheme clusters, ending with an ellipsis
// when it cuts; it cuts at a word boundary when one is in the second half.
func Shorten(s string, n int) string {
	// Graphemes are never more than bytes: count only when it matters.
	if len(s) <= n || uniseg.GraphemeClusterCount(s) <= n {
		return s
	}
	var b strings.Builder
	lastSpace, count := 0, 0
	g := uniseg.NewGraphemes(s)
	for count < n-1 && g.Next() {
		if g.Str() == " " {
			lastSpace = b.Len()
		}
		b.WriteString(g.Str())
		count++
	}
	out := b.String()
	if lastSpace > len(out)/2 {
		out = out[:lastSpace]
	}
	return strings.TrimRight(out, " ,;:.") + "…"
}

// isNormal reports text that Normalize would return unchanged: NFC, single
// ASCII spaces between words, none at the ends, no byte-order mark.
func isNormal(s string) bool {
	prevSpace := true // no space at the start
	for _, r := range s {
		switch {
		case r == ' ':
			if prevSpace {
				return false
			}
			prevSpace = true
		case r == '\ufeff' || unicode.IsSpace(r):
			return false
		default:
			prevSpace = false
		}
	}
	return !prevSpace && norm.NFC.IsNormalString(s)
}

// IsPlainASCII reports whether s is ASCII with single spaces between words
// and none at the ends: already normal.
func IsPlainASCII(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c < ' ' || c == 0x7f || (c == ' ' && s[i+1] == ' ') {
			return false
		}
	}
	return true
}
