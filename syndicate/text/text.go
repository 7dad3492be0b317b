// Package text holds the small text operations every other package
// shares: normalising what newsroom exports contain and shortening at a
// word boundary by grapheme clusters (what a reader sees as characters).
package text

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

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
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if r == '\ufeff' || isControl(r) { // a byte-order mark or an escape is not text
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
	// NFC last: a character removed above may have stood between a
	// letter and its combining mark, which compose once it is gone.
	return norm.NFC.String(b.String())
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
		case r == '\ufeff' || unicode.IsSpace(r) || isControl(r):
			return false
		default:
			prevSpace = false
		}
	}
	return !prevSpace && norm.NFC.IsNormalString(s)
}

// isControl reports a control character that is not white space: C0 and
// C1 controls and DEL (an ESC in an article must not reach a terminal or
// a post).
func isControl(r rune) bool {
	return (r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\v' && r != '\f') || (r >= 0x7f && r < 0xa0)
}

// OneLine makes s fit a mail header or a log line: control characters
// and Unicode line separators become spaces, white space is collapsed to single
// spaces, the ends trimmed. "Dwayne \"The Rock\" Johnson" is unchanged.
func OneLine(s string) string {
	if IsPlainASCII(s) {
		return s // the common case, without allocating
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || isControl(r) || r == '\u2028' || r == '\u2029'
	}), " ")
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

// Terminal makes s safe to print on a terminal as one line: control
// characters (escape sequences move the cursor and recolour, a CR or LF
// would forge a line of output), Unicode line separators and the
// bidirectional overrides that reorder what is shown are written as
// escapes like \x1b and \u202e. Text without them is returned as it is.
func Terminal(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unsafeOnTerminal(r) {
			if r < 0x100 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TerminalLines is Terminal for a message of several lines (an error
// with its "Try:" line, pgx's indented details): each line is made safe
// as Terminal makes it, and the line breaks and the tabs that indent a
// line are kept.
func TerminalLines(s string) string {
	if !needsEscape(s) {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		rest := strings.TrimLeft(l, "\t")
		lines[i] = l[:len(l)-len(rest)] + Terminal(rest)
	}
	return strings.Join(lines, "\n")
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			for _, r := range s {
				if unsafeOnTerminal(r) {
					return true
				}
			}
			return false
		}
	}
	return false
}

func unsafeOnTerminal(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return true
	case r == utf8.RuneError:
		return true
	case r == '\u2028' || r == '\u2029': // line and paragraph separators
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069', r == '\u200e', r == '\u200f', r == '\u061c':
		return true // bidirectional embeddings, overrides, isolates and marks
	}
	return false
}

// ShortURL is a URL as Mastodon shows it: no scheme, no "www.", cut after
// 30 characters with an ellipsis (the preview's cards and the digest's
// links show it; the link itself keeps the whole URL).
func ShortURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	u = strings.TrimPrefix(u, "www.")
	if r := []rune(u); len(r) > 30 {
		return string(r[:30]) + "…"
	}
	return u
}
