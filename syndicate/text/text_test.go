package text

import "testing"

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
