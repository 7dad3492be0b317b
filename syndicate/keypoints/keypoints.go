// Package keypoints chooses key points for an article that has none:
// extractive (whole sentences of the article), deterministic, offline.
//
// The method, in the order it runs (one file per step, so each rule has
// one place):
//
//  1. Split the body into sentences (sentences.go, model.go): a trained
//     English model (neurosnap/sentences: "Mr.", "U.S.", "p.m." do not end
//     sentences), or punctuation (. ! ? 。！？) for other languages.
//  2. Strip the dateline or source tag of the first sentence
//     (dateline.go: "Madison, Wisconsin (CNN) -- ", "(AFP) -").
//  3. Keep candidates (filter.go): at least 6 words, not a photo caption
//     or credit, not a quote fragment (unbalanced quotes, or starting in
//     lower case).
//  4. Score each candidate (score.go) by position (news puts what matters
//     first), centrality (similarity.go: LexRank, PageRank over the cosine
//     similarity of the sentences' stemmed TF-IDF vectors — a sentence
//     that many others echo states the story), and fit (a sentence that
//     fits one post is preferred to one that must be split).
//  5. Pick greedily by score (score.go), skipping a sentence too similar
//     to one already picked (redundancy removal), and put the picks back
//     in the article's order.
//
// # Errors
//
// The English model is built into the program, and loading it is the
// only step that can fail: only a broken build makes it fail, and then it
// fails every time. Falling back to punctuation would give other key
// points with no sign of why, so the failure is an error instead: New
// loads the model and returns it, and a program calls New once at
// start-up and stops there. An Extractor's methods cannot fail, so the
// per-article call (article.Options.Extract) has no error to handle: no
// article can cause one. The package-level Extract and Sentences use a
// shared Extractor and panic on that error, as regexp.MustCompile does on
// a constant pattern.
package keypoints

import (
	"fmt"
	"sync"

	"github.com/neurosnap/sentences"
)

// Options tune an extraction.
type Options struct {
	Count int    // key points to choose (3)
	Lang  string // the article's language; "" is English
	// PostLength is the length a point should fit in (a post, less room
	// for numbering); longer sentences are chosen less readily. 0: 450.
	PostLength int
}

// Extractor chooses key points with the English model loaded. It is safe
// for concurrent use; the zero value is not usable: call New.
type Extractor struct {
	english *sentences.DefaultSentenceTokenizer
}

// englishModel loads the model once per process: it is the same for
// every Extractor, read-only once built, and costly to build.
var englishModel = sync.OnceValues(newEnglishTokenizer)

// New loads the English sentence model. Its error means a broken build.
func New() (*Extractor, error) {
	tok, err := englishModel()
	if err != nil {
		return nil, fmt.Errorf("keypoints: the built-in English sentence model: %w", err)
	}
	return &Extractor{english: tok}, nil
}

// shared is the Extractor of the package-level functions.
var shared = sync.OnceValues(New)

func mustShared() *Extractor {
	e, err := shared()
	if err != nil {
		panic(err)
	}
	return e
}

// Extract returns up to opts.Count key points from the paragraphs, with a
// shared Extractor; it panics if the English model cannot be loaded (see
// New).
func Extract(paragraphs []string, opts Options) []string {
	return mustShared().Extract(paragraphs, opts)
}

// Sentences splits text as Extractor.Sentences does, with a shared
// Extractor; it panics if the English model cannot be loaded (see New).
func Sentences(text, lang string) []string {
	return mustShared().Sentences(text, lang)
}

// Extract returns up to opts.Count key points from the paragraphs.
func (e *Extractor) Extract(paragraphs []string, opts Options) []string {
	return e.extract(paragraphs, opts, tuned())
}

// MaxCandidates bounds the sentences ranked: LexRank compares every
// candidate with every other (n² in time and memory), and one file of
// short sentences must not take minutes and gigabytes. News states what
// matters first, and the position weight already makes a sentence past
// the 200th all but unpickable (1 / (1 + 0.35 × 200) = 0.014).
const MaxCandidates = 200

// candidates are the usable sentences, the first MaxCandidates of them.
func candidates(sents []string) []cand {
	var cands []cand
	for i, s := range sents {
		if len(cands) == MaxCandidates {
			break
		}
		if Usable(s) {
			cands = append(cands, cand{s, i})
		}
	}
	return cands
}

// cand is a sentence that may be a key point (filter.go: Usable), with
// its index among all the sentences of the article: position is part of
// the score.
type cand struct {
	text  string
	index int
}

// extract is the pipeline of the package doc; the weights are a
// parameter so that a grid search can try others. The slices of one
// article's candidates are made here, not returned by the steps, so the
// compiler can keep small ones on the stack.
func (e *Extractor) extract(paragraphs []string, opts Options, w weights) []string {
	if opts.Count <= 0 {
		opts.Count = 3
	}
	if opts.PostLength <= 0 {
		opts.PostLength = 450
	}
	var sents []string
	for _, p := range paragraphs {
		sents = append(sents, e.Sentences(p, opts.Lang)...)
	}
	if len(sents) > 0 {
		sents[0] = StripDateline(sents[0])
	}
	cands := candidates(sents)
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
		scores[i] = w.score(c, cent[i], opts.PostLength)
	}
	// The picks go in a slice of this frame: there are at most Count.
	picked := pick(make([]int, 0, opts.Count), scores, vecs, w.redundancy)
	out := make([]string, len(picked))
	for k, i := range picked {
		out[k] = cands[i].text
	}
	return out
}
