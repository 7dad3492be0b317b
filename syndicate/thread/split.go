package thread

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"

	"github.com/syndicate-bot/syndicate/syndicate/text"
)

// Split cuts text into pieces for which fits is true. It packs whole
// sentences while they fit, then whole words; a URL or mention is never
// cut, and a single word longer than a post is the only thing ever cut
// mid-word (at a grapheme boundary). The pieces, joined, hold every
// non-space character of text in order (invalid UTF-8 aside, which
// becomes U+FFFD). fits must accept any single
// grapheme cluster for Split to keep every piece within it.
func Split(s string, fits func(string) bool) []string {
	// Posts are UTF-8: a broken sequence becomes U+FFFD rather than bytes
	// that the grapheme segmentation would drop.
	s = strings.ToValidUTF8(s, "\uFFFD")
	if !text.IsPlainASCII(s) { // plain text is already what Fields would make it
		s = strings.Join(strings.Fields(s), " ")
	}
	if s == "" {
		return nil
	}
	if fits(s) {
		return []string{s}
	}
	var pieces []string
	var cur []token // the piece being filled
	curText := ""   // join(cur)
	emit := func() {
		if len(cur) > 0 {
			pieces = append(pieces, curText)
			cur, curText = nil, ""
		}
	}
	tryAdd := func(toks []token) bool {
		cand := join(toks)
		if len(cur) > 0 {
			if toks[0].space {
				cand = curText + " " + cand
			} else {
				cand = curText + cand
			}
		}
		if fits(cand) {
			cur, curText = append(cur, toks...), cand
			return true
		}
		return false
	}
	for _, sentence := range sentences(tokens(s)) {
		if tryAdd(sentence) {
			continue
		}
		emit()
		if tryAdd(sentence) {
			continue
		}
		for _, w := range sentence {
			if tryAdd([]token{w}) {
				continue
			}
			emit()
			w.space = false
			if tryAdd([]token{w}) {
				continue
			}
			parts := cutWord(w.text, fits)
			pieces = append(pieces, parts[:len(parts)-1]...)
			cur = []token{{text: parts[len(parts)-1]}}
			curText = parts[len(parts)-1]
		}
	}
	emit()
	return pieces
}

// token is a word, or a part of a word that ends a sentence in a script
// written without spaces (Chinese, Japanese).
type token struct {
	text  string
	space bool // a space stands before it in the text
}

func tokens(text string) []token {
	var out []token
	for _, w := range strings.Fields(text) {
		space := true
		for w != "" {
			i := strings.IndexAny(w, "。！？")
			if i < 0 {
				out = append(out, token{w, space})
				break
			}
			_, size := utf8.DecodeRuneInString(w[i:])
			// Closing quotes and brackets stay with their sentence.
			end := i + size
			for end < len(w) {
				r, n := utf8.DecodeRuneInString(w[end:])
				if !strings.ContainsRune("」』）】〕\"'”’)", r) {
					break
				}
				end += n
			}
			out = append(out, token{w[:end], space})
			w, space = w[end:], false
		}
	}
	return out
}

func join(toks []token) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 && t.space {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// sentences groups tokens into sentences: a sentence ends with a word
// ending in . ! ? or … (closing quotes and brackets aside) when the next
// word starts with a capital letter, a digit or an opening quote, and the
// word is not a common abbreviation; or with 。！？ whatever follows.
//
// This is not keypoints.Sentences, on purpose. Here a sentence end is
// only the preferred place to cut a point too long for a post: Split has
// no language, takes any text an author wrote, and must stay cheap, so a
// short rule does. keypoints chooses whole sentences as key points, where
// a wrong split is a wrong point, so it uses a trained English model.
// Each in the other's place changes output (measured on the CNN dev
// articles: the comment in syndicate/keypoints/sentences.go).
func sentences(toks []token) [][]token {
	var out [][]token
	start := 0
	for i, t := range toks {
		if i+1 < len(toks) && endsSentence(t.text) && (!toks[i+1].space || startsSentence(toks[i+1].text)) {
			out = append(out, toks[start:i+1])
			start = i + 1
		}
	}
	if start < len(toks) {
		out = append(out, toks[start:])
	}
	return out
}

var abbreviations = map[string]bool{
	"mr.": true, "mrs.": true, "ms.": true, "dr.": true, "prof.": true, "st.": true, "sr.": true, "jr.": true,
	"gen.": true, "gov.": true, "sen.": true, "rep.": true, "lt.": true, "col.": true, "capt.": true, "sgt.": true,
	"u.s.": true, "u.k.": true, "u.n.": true, "e.g.": true, "i.e.": true, "vs.": true, "no.": true, "inc.": true,
	"co.": true, "corp.": true, "ltd.": true, "jan.": true, "feb.": true, "aug.": true, "sept.": true, "oct.": true,
	"nov.": true, "dec.": true, "a.m.": true, "p.m.": true,
}

func endsSentence(w string) bool {
	t := strings.TrimRightFunc(w, func(r rune) bool { return strings.ContainsRune(`"'”’)]»`, r) })
	if t == "" {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(t)
	switch r {
	case '!', '?', '…', '。', '！', '？':
		return true
	case '.':
		return !abbreviations[strings.ToLower(t)] && !(utf8.RuneCountInString(t) == 2 && unicode.IsUpper([]rune(t)[0]))
	}
	return false
}

func startsSentence(w string) bool {
	r, _ := utf8.DecodeRuneInString(w)
	return unicode.IsUpper(r) || unicode.IsDigit(r) || strings.ContainsRune(`"'“‘«(`, r) || !unicode.IsLetter(r) && !unicode.IsPunct(r)
}

// cutWord cuts a word that fits no post on its own into pieces that each
// fit, at grapheme boundaries outside any URL or mention it holds.
func cutWord(w string, fits func(string) bool) []string {
	// Candidate cut points: grapheme boundaries not inside an entity.
	ents := entities(w)
	var cuts []int
	g := uniseg.NewGraphemes(w)
	for e := 0; g.Next(); {
		_, end := g.Positions()
		for e < len(ents) && ents[e].end < end {
			e++
		}
		if e < len(ents) && end > ents[e].start && end < ents[e].end {
			continue
		}
		cuts = append(cuts, end)
	}
	var parts []string
	from := 0 // byte offset where the current part starts
	for c := 0; c < len(cuts); {
		fitsUpTo := func(k int) bool { return fits(w[from:cuts[k]]) }
		// Galloping search for the last cut that fits: lengths grow with
		// the prefix, and a part is short next to a long word.
		lo, hi := c-1, c
		for hi < len(cuts) && fitsUpTo(hi) {
			lo, hi = hi, c+2*(hi-c)+1
		}
		if hi > len(cuts) {
			hi = len(cuts)
		}
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			if fitsUpTo(mid) {
				lo = mid
			} else {
				hi = mid
			}
		}
		if lo < c {
			lo = c // nothing fits: one cut is the least progress
		}
		parts = append(parts, w[from:cuts[lo]])
		from = cuts[lo]
		c = lo + 1
	}
	return parts
}

// splitGraphemes returns the grapheme clusters of s.
func splitGraphemes(s string) []string {
	var out []string
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		out = append(out, g.Str())
	}
	return out
}
