// Package rouge computes ROUGE-1, ROUGE-2 and ROUGE-L F1 the way the
// rouge-score package does by default: lower-case alphanumeric tokens,
// Porter-family stemming (here the Snowball English stemmer), n-gram
// overlap for ROUGE-N and the longest common subsequence of the whole
// token sequences for ROUGE-L. Used only to evaluate key points.
package rouge

import (
	"strings"
	"unicode"

	"github.com/kljensen/snowball/english"
)

// Scores are F1 values in [0, 1].
type Scores struct{ R1, R2, RL float64 }

// Tokens returns the lower-case, stemmed alphanumeric tokens of s.
func Tokens(s string) []string {
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for i, w := range words {
		if len(w) > 3 {
			words[i] = english.Stem(w, false)
		}
	}
	return words
}

// Score compares a candidate with a reference.
func Score(candidate, reference string) Scores {
	c, r := Tokens(candidate), Tokens(reference)
	return Scores{R1: ngramF1(c, r, 1), R2: ngramF1(c, r, 2), RL: lcsF1(c, r)}
}

func ngrams(t []string, n int) map[string]int {
	out := map[string]int{}
	for i := 0; i+n <= len(t); i++ {
		out[strings.Join(t[i:i+n], " ")]++
	}
	return out
}

func ngramF1(c, r []string, n int) float64 {
	cg, rg := ngrams(c, n), ngrams(r, n)
	overlap, cn, rn := 0, 0, 0
	for g, k := range cg {
		cn += k
		overlap += min(k, rg[g])
	}
	for _, k := range rg {
		rn += k
	}
	return f1(overlap, cn, rn)
}

func lcsF1(c, r []string) float64 {
	if len(c) == 0 || len(r) == 0 {
		return 0
	}
	prev := make([]int, len(r)+1)
	cur := make([]int, len(r)+1)
	for i := 1; i <= len(c); i++ {
		for j := 1; j <= len(r); j++ {
			if c[i-1] == r[j-1] {
				cur[j] = prev[j-1] + 1
			} else {
				cur[j] = max(prev[j], cur[j-1])
			}
		}
		prev, cur = cur, prev
	}
	return f1(prev[len(r)], len(c), len(r))
}

func f1(overlap, candidate, reference int) float64 {
	if overlap == 0 || candidate == 0 || reference == 0 {
		return 0
	}
	p, r := float64(overlap)/float64(candidate), float64(overlap)/float64(reference)
	return 2 * p * r / (p + r)
}
