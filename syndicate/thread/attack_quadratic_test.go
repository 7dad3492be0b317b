package thread

import (
	"strconv"
	"strings"
	"testing"
)

// The attack (issue 11's review): entities() scanned each "://" inside a
// URL it had already matched again to the end of that URL, and urlAt()
// recounted "(" and ")" over the whole URL for every trailing character
// it trimmed. A key point of "-http://a" repeated (180 KB) took 21 s;
// "http://a" + 900,000 ")" took 3 m 46 s. Now each is one pass (see
// BenchmarkLength_Pathological for the figures); these tests pin what the
// counter says of such text.
func TestLength_PathologicalURLs(t *testing.T) {
	tests := []struct {
		name string
		text string
		want int
	}{
		// One URL running to the end: "-" and the URL's 23.
		{"many schemes in one URL", strings.Repeat("-http://a", 1000), 1 + 23},
		// The unbalanced ")" are trimmed off the URL and counted as text.
		{"trailing parentheses", "http://a" + strings.Repeat(")", 1000), 23 + 1000},
		{"no host: no URL", strings.Repeat("http:// ", 100), 800},
	}
	for _, tt := range tests {
		if got := Length("", tt.text, 23); got != tt.want {
			t.Errorf("%s: Length = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// BenchmarkLength_Pathological: the inputs that took minutes before take
// time linear in their size: run with -bench=Pathological and compare the
// ns/op of 100 KB and 400 KB (about 4x, not 16x).
func BenchmarkLength_Pathological(b *testing.B) {
	for _, size := range []int{100_000, 400_000} {
		for name, text := range map[string]string{
			"schemes":     strings.Repeat("-http://a", size/9),
			"parentheses": "http://a" + strings.Repeat(")", size),
		} {
			b.Run(name+"-"+strconv.Itoa(size), func(b *testing.B) {
				for b.Loop() {
					Length("", text, 23)
				}
			})
		}
	}
}
