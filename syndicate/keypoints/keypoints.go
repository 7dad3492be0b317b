// Package keypoints chooses key points for an article that has none:
// extractive (whole sentences of the article), deterministic, offline.
//
// The method, in the order it runs:
//
//  1. Split the body into sentences: a trained English model
//     (neurosnap/sentences: "Mr.", "U.S.", "p.m." do not end sentences),
//     or punctuation (. ! ? 。！？) for other languages.
//  2. Strip the dateline or source tag of the first sentence
//     ("Madison, Wisconsin (CNN) -- ", "(AFP) -").
//  3. Keep candidates: at least 6 words, not a photo caption or credit,
//     not a quote fragment (unbalanced quotes, or starting in lower case).
//  4. Score each candidate by position (news puts what matters first),
//     centrality (LexRank: PageRank over the cosine similarity of the
//     sentences' stemmed TF-IDF vectors — a sentence that many others echo
//     states the story), and fit (a sentence that fits one post is
//     preferred to one that must be split).
//  5. Pick greedily by score, skipping a sentence too similar to one
//     already picked (redundancy removal), and put the picks back in the
//     article's order.
package keypoints

import (
	"math"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/neurosnap/sentences"
	"github.com/neurosnap/sentences/data"
	sentencesEnglish "github.com/neurosnap/sentences/english"
	"github.com/rivo/uniseg"
)

// Options tune an extraction.
type Options struct {
	Count int    // key points to choose (3)
	Lang  string // the article's language; "" is English
	// PostLength is the length a point should fit in (a post, less room
	// for numbering); longer sentences are chosen less readily. 0: 450.
	PostLength int
}

// weights of the score.
type weights struct {
	position, centrality, fit float64
	decay                     float64 // position score = 1 / (1 + decay*index)
	redundancy                float64 // cosine similarity above which a sentence repeats a pick
	words                     int     // sentences longer than this many words fit less well
}

// tuned are the weights chosen by a grid search on the CNN dev set (see
// eval_test.go): the best ROUGE-1 + ROUGE-2 among neighbours that score
// alike, so the choice is not a lucky corner.
func tuned() weights {
	return weights{position: 1.0, centrality: 0.3, fit: 0.5, decay: 0.35, redundancy: 0.45, words: 25}
}

// Extract returns up to opts.Count key points from the paragraphs.
func Extract(paragraphs []string, opts Options) []string {
	return extract(paragraphs, opts, tuned())
}

func extract(paragraphs []string, opts Options, w weights) []string {
	if opts.Count <= 0 {
		opts.Count = 3
	}
	if opts.PostLength <= 0 {
		opts.PostLength = 450
	}
	var sents []string
	for _, p := range paragraphs {
		sents = append(sents, Sentences(p, opts.Lang)...)
	}
	if len(sents) > 0 {
		sents[0] = StripDateline(sents[0])
	}
	type cand struct {
		text  string
		index int
	}
	var cands []cand
	for i, s := range sents {
		if Usable(s) {
			cands = append(cands, cand{s, i})
		}
	}
	if len(cands) == 0 {
		return nil
	}
	texts := make([]string, len(cands))
	for i, c := range cands {
		texts[i] = c.text
	}
	vecs := vectors(texts)
	cent := lexRank(vecs)
	scores := make([]float64, len(cands))
	for i, c := range cands {
		pos := 1 / (1 + w.decay*float64(c.index))
		// Fit: a point that fits a post, and reads as a headline-length
		// statement (about 30 words or fewer), is preferred.
		fit := 1.0
		// Graphemes are never more than bytes: count only when it matters.
		if len(c.text) > opts.PostLength {
			if n := uniseg.GraphemeClusterCount(c.text); n > opts.PostLength {
				fit = float64(opts.PostLength) / float64(n)
			}
		}
		words := len(strings.Fields(c.text))
		if words > w.words {
			fit *= float64(w.words) / float64(words)
		}
		if words < 10 {
			// A hook ("Another one for the file.") says too little.
			fit *= float64(words) / 10
		}
		scores[i] = w.position*pos + w.centrality*cent[i] + w.fit*fit
	}
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	var picked []int
	for _, i := range order {
		if len(picked) == opts.Count {
			break
		}
		repeat := false
		for _, j := range picked {
			if cosine(vecs[i], vecs[j]) > w.redundancy {
				repeat = true
				break
			}
		}
		if !repeat {
			picked = append(picked, i)
		}
	}
	sort.Ints(picked) // the article's order
	out := make([]string, len(picked))
	for k, i := range picked {
		out[k] = cands[i].text
	}
	return out
}

var (
	englishOnce      sync.Once
	englishTokenizer *sentences.DefaultSentenceTokenizer
)

// splitEnglish splits English text: at clear sentence ends itself, and
// with the trained model only the stretches that hold an ambiguous period
// (an abbreviation, an initial, a number, an ellipsis). The model is the
// costly part of extraction; a test checks the result is the model's on
// the whole evaluation corpus.
func splitEnglish(tok *sentences.DefaultSentenceTokenizer, text string) []string {
	var out []string
	for _, chunk := range clearBreaks(text, tok.Storage.AbbrevTypes) {
		if !hasInnerEnd(chunk) {
			out = append(out, chunk)
			continue
		}
		for _, s := range tok.Tokenize(chunk) {
			if t := strings.TrimSpace(s.Text); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// clearBreaks cuts text after a word that plainly ends a sentence: a word
// of letters (not a known abbreviation) ending in ".", or any word ending
// in "!" or "?", followed by a space and a capital letter.
func clearBreaks(text string, abbrev sentences.SetString) []string {
	var out []string
	start := 0
	for i := 0; i+2 < len(text); i++ {
		c := text[i]
		if (c != '.' && c != '!' && c != '?') || text[i+1] != ' ' || text[i+2] < 'A' || text[i+2] > 'Z' {
			continue
		}
		// The word before the mark.
		w := i
		for w > start && text[w-1] != ' ' {
			w--
		}
		word := text[w:i]
		if c == '.' {
			if len(word) < 2 || abbrev.Has(strings.ToLower(word)) {
				continue
			}
			letters := true
			for j := 0; j < len(word); j++ {
				if b := word[j]; !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z') {
					letters = false
					break
				}
			}
			if !letters {
				continue
			}
		}
		out = append(out, text[start:i+1])
		start = i + 2
	}
	return append(out, text[start:])
}

// hasInnerEnd reports a possible sentence end inside s — ". ", "! ",
// "? ", also with closing quotes or brackets between ('." '), or an
// ellipsis — that only the model can judge.
func hasInnerEnd(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '.' && s[i] != '!' && s[i] != '?' {
			continue
		}
		j := i + 1
		for j < len(s) {
			if strings.ContainsRune(`"')]`, rune(s[j])) {
				j++
			} else if strings.HasPrefix(s[j:], "”") || strings.HasPrefix(s[j:], "’") {
				j += len("”")
			} else {
				break
			}
		}
		if j < len(s) && s[j] == ' ' {
			return true
		}
	}
	return strings.Contains(s, "…")
}

// Sentences splits text into sentences: with the English model for
// English (or no language given), else at . ! ? and 。！？.
func Sentences(text, lang string) []string {
	// One space between words: what articles hold after parsing, and what
	// the splitting below expects.
	text = strings.Join(strings.Fields(text), " ")
	if text == "" {
		return nil
	}
	if lang == "" || strings.HasPrefix(strings.ToLower(lang), "en") {
		englishOnce.Do(func() {
			// The model is built into the package; an error means a broken
			// build, and punctuation splitting still works.
			englishTokenizer, _ = newEnglishTokenizer()
		})
		if englishTokenizer != nil {
			var out []string
			for _, s := range splitEnglish(englishTokenizer, text) {
				for _, t := range splitAfterNumbers(s) {
					if t != "" {
						out = append(out, t)
					}
				}
			}
			return out
		}
	}
	return splitPunctuation(text)
}

// newEnglishTokenizer builds what sentences/english.NewSentenceTokenizer
// builds, with two costs taken out (they were most of the time of key
// point extraction): the multi-period annotation runs only for tokens
// holding . ? or ! (for any other it changes nothing), and the non-punct
// test uses a regexp compiled once instead of at every call. A test checks
// the output is the library's on the whole evaluation corpus.
func newEnglishTokenizer() (*sentences.DefaultSentenceTokenizer, error) {
	b, err := data.Asset("data/english.json")
	if err != nil {
		return nil, err
	}
	training, err := sentences.LoadTraining(b)
	if err != nil {
		return nil, err
	}
	for _, abbr := range []string{"sgt", "gov", "no"} { // as the library adds
		training.AbbrevTypes.Add(abbr)
	}
	lang := sentences.NewPunctStrings()
	word := &wordTokenizer{WordTokenizer: sentencesEnglish.NewWordTokenizer(lang), nonPunct: regexp.MustCompile(lang.NonPunct())}
	annotations := sentences.NewAnnotations(training, lang, word)
	ortho := &sentences.OrthoContext{Storage: training, PunctStrings: lang, TokenType: word, TokenFirst: word}
	annotations = append(annotations, onlyPunctuated{&sentencesEnglish.MultiPunctWordAnnotation{
		Storage: training, TokenParser: word, TokenGrouper: &sentences.DefaultTokenGrouper{}, Ortho: ortho,
	}})
	return &sentences.DefaultSentenceTokenizer{Storage: training, PunctStrings: lang, WordTokenizer: word, Annotations: annotations}, nil
}

type wordTokenizer struct {
	*sentencesEnglish.WordTokenizer
	nonPunct *regexp.Regexp
}

func (w *wordTokenizer) IsNonPunct(t *sentences.Token) bool { return w.nonPunct.MatchString(w.Type(t)) }

type onlyPunctuated struct {
	inner *sentencesEnglish.MultiPunctWordAnnotation
}

func (o onlyPunctuated) Annotate(tokens []*sentences.Token) []*sentences.Token {
	for i := 0; i+1 < len(tokens); i++ {
		if strings.ContainsAny(tokens[i].Tok, ".?!") {
			o.inner.Annotate(tokens[i : i+2])
		}
	}
	return tokens
}

// afterNumber finds a sentence end the English model misses: a number of
// two or more digits ("in 2024.") followed by a capitalised word.
var afterNumber = regexp.MustCompile(`\b\d{2,}\.\s+["“]?\p{Lu}`)

func splitAfterNumbers(s string) []string {
	if !digitBeforePeriod(s) {
		return []string{s}
	}
	var out []string
	for {
		loc := afterNumber.FindStringIndex(s)
		if loc == nil {
			return append(out, s)
		}
		cut := strings.IndexByte(s[loc[0]:], '.') + loc[0] + 1
		out = append(out, strings.TrimSpace(s[:cut]))
		s = strings.TrimSpace(s[cut:])
	}
}

// digitBeforePeriod reports "9. " somewhere in s: the cheap test before
// afterNumber.
func digitBeforePeriod(s string) bool {
	for i := 1; i+1 < len(s); i++ {
		if s[i] == '.' && s[i+1] == ' ' && s[i-1] >= '0' && s[i-1] <= '9' {
			return true
		}
	}
	return false
}

// splitPunctuation splits after . ! ? followed by a space, and after
// 。！？ wherever they are.
func splitPunctuation(text string) []string {
	var out []string
	start := 0
	for i, r := range text {
		end := -1
		switch r {
		case '。', '！', '？':
			end = i + utf8.RuneLen(r)
		case '.', '!', '?':
			if next := i + 1; next >= len(text) || text[next] == ' ' {
				end = next
			}
		}
		if end > start {
			// Closing quotes and brackets belong to the sentence.
			for end < len(text) {
				c, n := utf8.DecodeRuneInString(text[end:])
				if !strings.ContainsRune(`"'”’)」』）`, c) {
					break
				}
				end += n
			}
			if s := strings.TrimSpace(text[start:end]); s != "" {
				out = append(out, s)
			}
			start = end
		}
	}
	if s := strings.TrimSpace(text[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

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

// ---- similarity ----

// vector is a sparse TF-IDF vector: term IDs in increasing order, with
// their weights, normalised to length 1.
type vector struct {
	ids     []int
	weights []float64
}

var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a about above after again against all am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
nor not now of off on once only or other our ours ourselves out over own same she should so some such than that the
their theirs them themselves then there these they this those through to too under until up very was we were what
when where which while who whom why will with would you your yours yourself yourselves said says say also`) {
		m[w] = true
	}
	return m
}()

// termIDs are the IDs of the stemmed content words of s; ids numbers the
// stems of one article (and caches the stemming: words repeat).
func termIDs(s string, ids map[string]int, stems map[string]string) []int {
	var out []int
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if stopwords[w] {
			continue
		}
		st, ok := stems[w]
		if !ok {
			st = lightStem(w)
			stems[w] = st
		}
		id, ok := ids[st]
		if !ok {
			id = len(ids)
			ids[st] = id
		}
		out = append(out, id)
	}
	return out
}

// lightStem conflates the commonest English inflections ("votes",
// "voted", "voting" → "vot"). It is much cheaper than a full stemmer and
// scored as well for choosing sentences; ROUGE itself uses Snowball.
func lightStem(w string) string {
	if len(w) <= 4 {
		return w
	}
	for _, suffix := range []string{"ies", "ing", "ed", "es", "ly", "s"} {
		if strings.HasSuffix(w, suffix) && len(w)-len(suffix) >= 3 && !strings.HasSuffix(w, "ss") {
			return w[:len(w)-len(suffix)]
		}
	}
	return w
}

// vectors are TF-IDF vectors, each sentence a document.
func vectors(texts []string) []vector {
	ids := map[string]int{}
	stems := map[string]string{}
	docs := make([][]int, len(texts))
	for i, t := range texts {
		d := termIDs(t, ids, stems)
		sort.Ints(d)
		docs[i] = d
	}
	df := make([]int, len(ids))
	for _, d := range docs {
		for k, id := range d {
			if k == 0 || d[k-1] != id {
				df[id]++
			}
		}
	}
	n := float64(len(texts))
	out := make([]vector, len(texts))
	for i, d := range docs {
		var v vector
		norm := 0.0
		for k := 0; k < len(d); {
			id, tf := d[k], 0
			for k < len(d) && d[k] == id {
				tf++
				k++
			}
			x := float64(tf) * math.Log(1+n/float64(df[id]))
			v.ids = append(v.ids, id)
			v.weights = append(v.weights, x)
			norm += x * x
		}
		norm = math.Sqrt(norm)
		for k := range v.weights {
			v.weights[k] /= norm
		}
		out[i] = v
	}
	return out
}

func cosine(a, b vector) float64 {
	s := 0.0
	for i, j := 0, 0; i < len(a.ids) && j < len(b.ids); {
		switch {
		case a.ids[i] < b.ids[j]:
			i++
		case a.ids[i] > b.ids[j]:
			j++
		default:
			s += a.weights[i] * b.weights[j]
			i++
			j++
		}
	}
	return s
}

// lexRank is PageRank over the sentence similarity graph, scaled so the
// most central sentence scores 1.
func lexRank(vecs []vector) []float64 {
	n := len(vecs)
	sim := make([][]float64, n)
	for i := range sim {
		sim[i] = make([]float64, n)
	}
	rowSum := make([]float64, n)
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			s := cosine(vecs[i], vecs[j])
			sim[i][j], sim[j][i] = s, s
			rowSum[i] += s
			rowSum[j] += s
		}
	}
	rank := make([]float64, n)
	for i := range rank {
		rank[i] = 1 / float64(n)
	}
	const damping = 0.85
	next := make([]float64, n)
	for iter := 0; iter < 30; iter++ {
		for j := 0; j < n; j++ {
			s := 0.0
			for i := 0; i < n; i++ {
				if rowSum[i] > 0 {
					s += rank[i] * sim[i][j] / rowSum[i]
				}
			}
			next[j] = (1-damping)/float64(n) + damping*s
		}
		rank, next = next, rank
	}
	top := 0.0
	for _, r := range rank {
		top = max(top, r)
	}
	if top > 0 {
		for i := range rank {
			rank[i] /= top
		}
	}
	return rank
}
