package digest

import (
	"strings"

	"github.com/rivo/uniseg"
)

// TextWidth is the width the plain-text part is wrapped at (RFC 5322's
// recommended 78 characters).
const TextWidth = 78

// wrapText makes the plain-text part read well in any mail client: a
// line wider than TextWidth is broken at spaces, its continuation lines
// indented under its text (under the text of a "* " or "- " bullet), and
// every link stands on a line of its own so that clients can follow it and
// no link is ever broken. A link longer than the width is left whole. Lines
// that already fit and hold no link beside other text are left as they
// are, and so is the signature separator "-- ".
func wrapText(s string) string {
	if !needsWrap(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/20)
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		wrapLine(&b, line)
	}
	return b.String()
}

func needsWrap(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if lineNeedsWrap(line) {
			return true
		}
	}
	return false
}

func lineNeedsWrap(line string) bool {
	words, link := 0, false
	for w := range strings.FieldsSeq(line) {
		words++
		link = link || isLink(w)
	}
	if len(line) > TextWidth && uniseg.StringWidth(line) > TextWidth {
		return words > 1
	}
	return words > 1 && link
}

func isLink(word string) bool {
	w := strings.TrimLeft(word, "<(")
	return strings.HasPrefix(w, "https://") || strings.HasPrefix(w, "http://")
}

// wrapLine writes line wrapped into b, word by word (it runs for every
// line of every reader's copy: nothing is built but b).
func wrapLine(b *strings.Builder, line string) {
	if !lineNeedsWrap(line) {
		b.WriteString(line)
		return
	}
	body := strings.TrimLeft(line, " ")
	indent := line[:len(line)-len(body)]
	hang := indent
	if strings.HasPrefix(body, "* ") || strings.HasPrefix(body, "- ") {
		hang += "  "
	}
	wrote := false // a line is written
	open := false  // the line being written holds a word and may take more
	width := 0
	prefix := indent // of the next line: the first keeps the line's indent
	newLine := func() {
		if wrote {
			b.WriteByte('\n')
		}
		wrote = true
		b.WriteString(prefix)
		width, prefix = len(prefix), hang
	}
	for word := range strings.FieldsSeq(body) {
		if isLink(word) {
			prefix = hang // a link stands on a line of its own
			newLine()
			b.WriteString(word)
			open = false
			continue
		}
		w := uniseg.StringWidth(word)
		if open && width+1+w > TextWidth {
			open = false
		}
		if open {
			b.WriteByte(' ')
			width++
		} else {
			newLine()
			open = true
		}
		b.WriteString(word)
		width += w
	}
}
