package keypoints

// Scoring and picking. The score weighs what makes a good key point of a
// news article: early (news puts what matters first), central (others
// echo it), and the right size (one post, a headline's length). The pick
// then trades score for variety: three points saying the same thing are
// worth one.

import (
	"sort"
	"strings"

	"github.com/rivo/uniseg"
)

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

// score is a candidate's score: its position, its centrality (from
// lexRank) and its fit to postLength, weighted.
func (w weights) score(c cand, centrality float64, postLength int) float64 {
	pos := 1 / (1 + w.decay*float64(c.index))
	// Fit: a point that fits a post, and reads as a headline-length
	// statement (w.words or fewer), is preferred.
	fit := 1.0
	// Graphemes are never more than bytes: count only when it matters.
	if len(c.text) > postLength {
		if n := uniseg.GraphemeClusterCount(c.text); n > postLength {
			fit = float64(postLength) / float64(n)
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
	return w.position*pos + w.centrality*centrality + w.fit*fit
}

// pick chooses up to cap(picked) candidates greedily by score (ties: the
// earlier), skipping one whose cosine similarity to a pick exceeds
// redundancy, and returns their indices in the article's order, appended
// to picked (empty).
func pick(picked []int, scores []float64, vecs []vector, redundancy float64) []int {
	count := cap(picked)
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	for _, i := range order {
		if len(picked) == count {
			break
		}
		repeat := false
		for _, j := range picked {
			if cosine(vecs[i], vecs[j]) > redundancy {
				repeat = true
				break
			}
		}
		if !repeat {
			picked = append(picked, i)
		}
	}
	sort.Ints(picked) // the article's order
	return picked
}
