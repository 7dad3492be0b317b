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
	if len(line) > TextWidth && uniseg.StringWidth(line) > TextWidth {
		return len(strings.Fields(line)) > 1
	}
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return false
	}
	for _, f := range fields {
		if isLink(f) {
			return true
		}
	}
	return false
}

func isLink(word string) bool {
	w := strings.TrimLeft(word, "<(")
	return strings.HasPrefix(w, "https://") || strings.HasPrefix(w, "http://")
}

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
	var out []string
	cur, width := indent, len(indent)
	empty := true // cur holds no word yet
	flush := func() {
		if !empty {
			out = append(out, cur)
		}
		cur, width, empty = hang, len(hang), true
	}
	for _, word := range strings.Fields(body) {
		w := uniseg.StringWidth(word)
		if isLink(word) {
			flush()
			out = append(out, hang+word)
			continue
		}
		if !empty && width+1+w > TextWidth {
			flush()
		}
		if !empty {
			cur += " "
			width++
		}
		cur += word
		width += w
		empty = false
	}
	flush()
	b.WriteString(strings.Join(out, "\n"))
}
