package keypoints

import (
	"fmt"
	"strings"
	"testing"
)

// The attack (issue 11's review): lexRank allocates a dense n×n matrix
// over the candidate sentences and iterates 30 × n², and n had no cap:
// "syndicate check" on an 8,000-sentence article (320 KB) took 34 s and
// 537 MB. The candidates are now the first MaxCandidates usable
// sentences, whatever the article's length, and the picks are the same
// (a sentence past the 200th scores too low by its position to be picked).
func TestExtract_CandidatesCapped(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 30000; i++ {
		fmt.Fprintf(&b, "Alpha beta gamma delta epsilon zeta%d. ", i)
	}
	sents := Sentences(b.String(), "en")
	if len(sents) < 30000 {
		t.Fatalf("%d sentences", len(sents))
	}
	if got := len(candidates(sents)); got != MaxCandidates {
		t.Errorf("%d candidates ranked, want %d", got, MaxCandidates)
	}
	if got := Extract([]string{b.String()}, Options{Count: 3}); len(got) != 3 || !strings.HasSuffix(got[0], "zeta0.") {
		t.Errorf("picks %q", got)
	}
}
