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
package keypoints

// Options tune an extraction.
type Options struct {
	Count int    // key points to choose (3)
	Lang  string // the article's language; "" is English
	// PostLength is the length a point should fit in (a post, less room
	// for numbering); longer sentences are chosen less readily. 0: 450.
	PostLength int
}

// Extract returns up to opts.Count key points from the paragraphs.
func Extract(paragraphs []string, opts Options) []string {
	return extract(paragraphs, opts, tuned())
}

// extract is the pipeline of the package doc; the weights are a
// parameter so that a grid search can try others.
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
	cands := candidates(sents)
	if len(cands) == 0 {
		return nil
	}
	texts := make([]string, len(cands))
	for i, c := range cands {
		texts[i] = c.text
	}
	vecs := vectors(texts)
	scores := score(cands, lexRank(vecs), opts.PostLength, w)
	picked := pick(scores, vecs, opts.Count, w.redundancy)
	out := make([]string, len(picked))
	for k, i := range picked {
		out[k] = cands[i].text
	}
	return out
}
