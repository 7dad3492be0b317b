package keypoints

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// The attack (issue 11's review): lexRank allocates a dense n×n float64 matrix over the candidate
// sentences and iterates 30 × n² — with no cap on n. An article is at most
// 1 MiB, but "Alpha beta gamma delta epsilon zetaN." is a usable sentence of
// ~40 bytes, and shorter ones ("A b c d e f.") are 13: 25,000-80,000
// sentences, 5-50 GB. "syndicate check" on an 8,000-sentence article (320 KB)
// took 34 s and 537 MB RSS, ignored SIGTERM for the rest of the 34 s; article
// parsing runs on every core at once, so a few such files OOM-kill the bot on
// every run/tick.
//
// With the candidates capped (MaxCandidates), 3,000 sentences (120 KB)
// need well under 64 MB, and 30,000 the same.
func TestAttack_LexRankMemory(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 30000; i++ {
		fmt.Fprintf(&b, "Alpha beta gamma delta epsilon zeta%d. ", i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	Extract([]string{b.String()}, Options{Count: 3})
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("Extract on %d bytes allocated %d MiB: the similarity matrix is quadratic in the sentences", b.Len(), alloc>>20)
	}
}
