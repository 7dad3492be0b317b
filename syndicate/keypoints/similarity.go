package keypoints

// Similarity between the sentences of one article: stemmed TF-IDF vectors
// compared by cosine. It serves twice: LexRank's centrality (a sentence
// many others echo states the story) and the redundancy test of the pick
// (a sentence too close to one picked repeats it). Each article is its own
// collection, each sentence a document: no outside statistics, so the
// result depends on nothing but the article.

import (
	"math"
	"sort"
	"strings"
	"unicode"
)

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

// cosine is the dot product of two vectors of length 1, merged over
// their sorted term IDs.
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
