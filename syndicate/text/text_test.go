package text

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain words", "plain words"},
		{"  padded  ", "padded"},
		{"the\u00a0 parliament", "the parliament"},
		{"tab\there", "tab here"},
		{"line\nbreak", "line break"},
		{"cafe\u0301", "caf\u00e9"},
		{"\ufeffbom", "bom"},
		{"narrow\u202fspace", "narrow space"},
		{"", ""},
		{"a\x7fb", "a\x7fb"},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestShorten(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"one two three four five", 12, "one two…"},
		{"abcdefghijklmnop", 5, "abcd…"},
		{"🇵🇰🇵🇰🇵🇰🇵🇰", 3, "🇵🇰🇵🇰…"},
	}
	for _, tt := range tests {
		if got := Shorten(tt.in, tt.n); got != tt.want {
			t.Errorf("Shorten(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// FuzzNormalize: normalising is idempotent and leaves no double, leading,
// trailing or no-break space — whichever path (plain, normal, full) runs.
func FuzzNormalize(f *testing.F) {
	f.Add("the\u00a0 parliament")
	f.Add("café\u0301 ok")
	f.Add(" \ufeffx  y ")
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if Normalize(n) != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, Normalize(n))
		}
		if strings.Contains(n, "  ") || strings.ContainsRune(n, '\u00a0') || n != strings.TrimSpace(n) {
			t.Fatalf("%q -> %q", s, n)
		}
	})
}
