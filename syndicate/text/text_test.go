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
		{"a\x7fb", "ab"}, // controls are not text
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
		if strings.IndexFunc(n, isControl) >= 0 {
			t.Fatalf("%q -> %q keeps a control character", s, n)
		}
	})
}

func TestTerminal(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"Zoë 日本語 👍🏽", "Zoë 日本語 👍🏽"},
		{"evil\x1b[2J\x1b[Hname.md", `evil\x1b[2J\x1b[Hname.md`},
		{"x.md:1: fine\nfake.md:9: forged", `x.md:1: fine\x0afake.md:9: forged`},
		{"carriage\rreturn", `carriage\x0dreturn`},
		{"bell\a", `bell\x07`},
		{"csi \u009b31m", `csi \x9b31m`},
		{"txt.\u202eexe.md", `txt.\u202eexe.md`},
		{"line\u2028sep", `line\u2028sep`},
		{"isolate\u2066x\u2069", `isolate\u2066x\u2069`},
	}
	for _, tt := range tests {
		if got := Terminal(tt.in); got != tt.want {
			t.Errorf("Terminal(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTerminalLines(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain\nTry: this", "plain\nTry: this"},
		{"failed to connect to `user=x\x1b[31m`:\n\thost: refused\n\t\tdeeper", "failed to connect to `user=x\\x1b[31m`:\n\thost: refused\n\t\tdeeper"},
		{"cr\r\nlf", `cr\x0d` + "\nlf"},
		{"\tin\tside\u202e", "\tin\\x09side\\u202e"},
	}
	for _, tt := range tests {
		if got := TerminalLines(tt.in); got != tt.want {
			t.Errorf("TerminalLines(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{`Dwayne "The Rock" Johnson`, `Dwayne "The Rock" Johnson`},
		{"Ann\r\nBcc: evil@example.org", "Ann Bcc: evil@example.org"},
		{"a\x00b\x1b[31mc\u2028d", "a b [31mc d"},
		{"  spaced\t out  ", "spaced out"},
		{`back\slash, comma`, `back\slash, comma`},
	}
	for _, tt := range tests {
		if got := OneLine(tt.in); got != tt.want {
			t.Errorf("OneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := Normalize("no\x1b[2Jescape\x07"); got != "no[2Jescape" {
		t.Errorf("Normalize keeps controls: %q", got)
	}
}
