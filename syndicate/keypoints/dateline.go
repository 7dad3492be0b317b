package keypoints

// Dateline stripping. News copy often opens with where and from whom it
// comes ("Madison, Wisconsin (CNN) -- "), which is noise in a key point
// read on its own. Only the first sentence of an article is stripped: a
// dateline stands nowhere else.

import (
	"regexp"
	"strings"
)

var dateline = regexp.MustCompile(`^(?:[A-Z][\p{L}.'’-]*(?:[ ,]+[A-Z][\p{L}.'’-]*)*,? )?\((?:CNN|AP|AFP|Reuters|UPI|EW\.com|CNN Student News|[A-Z]{2,6})\)\s*(?:--|—|–|-|:)?\s*|^(?:--|—)\s*|^[A-Z][A-Z .,'-]{2,40}\s(?:--|—)\s+`)

// StripDateline removes a leading dateline or source tag:
// "Madison, Wisconsin (CNN) -- ", "(CNN)", "(AFP) - ", "LONDON -- ".
func StripDateline(s string) string {
	// The regexp is costly; a dateline has its mark near the start.
	head := s[:min(len(s), 80)]
	if !strings.Contains(head, "(") && !strings.Contains(head, "--") && !strings.Contains(head, "—") {
		return s
	}
	out := strings.TrimSpace(dateline.ReplaceAllString(s, ""))
	if out == "" {
		return s
	}
	return out
}
