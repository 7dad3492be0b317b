package thread

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func fitsIn(limit int) func(string) bool {
	return func(s string) bool { return Length("", s, 23) <= limit }
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"fits whole", "One sentence. Two.", 100, []string{"One sentence. Two."}},
		{"at sentence boundaries", "First one here. Second one here. Third one here.", 33,
			[]string{"First one here. Second one here.", "Third one here."}},
		{"abbreviations are not boundaries", "Mr. Smith met Dr. Jones in the U.S. today. Then left.", 45,
			[]string{"Mr. Smith met Dr. Jones in the U.S. today.", "Then left."}},
		{"long sentence at words", "alpha beta gamma delta epsilon zeta eta theta", 20,
			[]string{"alpha beta gamma", "delta epsilon zeta", "eta theta"}},
		{"URL never cut, counts 23", "read https://example.org/" + strings.Repeat("p", 80) + " now please", 30,
			[]string{"read https://example.org/" + strings.Repeat("p", 80), "now please"}},
		{"overlong word cut", strings.Repeat("x", 25), 10,
			[]string{strings.Repeat("x", 10), strings.Repeat("x", 10), strings.Repeat("x", 5)}},
		{"graphemes not split", strings.Repeat("🇵🇰", 5), 2,
			[]string{"🇵🇰🇵🇰", "🇵🇰🇵🇰", "🇵🇰"}},
		{"CJK sentences", "これは一文です。これは二文です。", 9,
			[]string{"これは一文です。", "これは二文です。"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Split(tt.text, fitsIn(tt.limit))
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("Split = %q\nwant    %q", got, tt.want)
			}
		})
	}
}

// FuzzSplit: no piece over the limit; no character lost, duplicated or
// reordered; a word that fits a post is never cut.
func FuzzSplit(f *testing.F) {
	f.Add("Spending on buses rises by 11%. The charge is https://council.example.org/budget.pdf. Residents are exempt.", 40)
	f.Add("@alice@mastodon.social said 👨‍👩‍👧‍👦 🇵🇰 日本語。テキスト！", 12)
	f.Add(strings.Repeat("word ", 200), 100)
	f.Add("x\u0301\u0301\u0301 y", 5)
	f.Fuzz(func(t *testing.T, text string, limit int) {
		if limit < 1 || limit > 1000 || len(text) > 5000 {
			return
		}
		// The splitter's contract: fits accepts any single grapheme. With
		// URLs counting 23, that holds for limits of 23 and more; below,
		// count URLs as 1 to keep the property checkable.
		urlLen := 23
		if limit < 23 {
			urlLen = 1
		}
		fits := func(s string) bool { return Length("", s, urlLen) <= limit }
		pieces := Split(text, fits)
		for _, p := range pieces {
			if p == "" || p != strings.TrimSpace(p) {
				t.Fatalf("empty or untrimmed piece %q", p)
			}
			// Only a single grapheme cluster wider than the limit may
			// stand alone over it: the splitter cannot do better.
			if n := Length("", p, urlLen); n > limit && graphemes(p) > 1 {
				t.Fatalf("piece %q counts %d > %d", p, n, limit)
			}
		}
		if !utf8.ValidString(text) {
			return // broken sequences become U+FFFD: nothing more to compare
		}
		if got, want := strings.Join(strings.Fields(strings.Join(pieces, "")), ""), strings.Join(strings.Fields(text), ""); got != want {
			t.Fatalf("characters lost or reordered:\n got %q\nwant %q", got, want)
		}
		// Every word (or CJK sentence) that fits on its own appears whole.
		words := map[string]bool{}
		for _, p := range pieces {
			for _, w := range tokens(p) {
				words[w.text] = true
			}
		}
		for _, w := range tokens(text) {
			if fits(w.text) && !words[w.text] {
				t.Fatalf("word %q was cut although it fits", w.text)
			}
		}
	})
}

func graphemes(s string) int {
	n := 0
	for range splitGraphemes(s) {
		n++
	}
	return n
}
