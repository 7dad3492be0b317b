package digest

import (
	"strings"
	"testing"

	"github.com/rivo/uniseg"
)

func TestWrapText(t *testing.T) {
	long := "  * The council voted 31 to 20 for a budget that adds 45 bus drivers, keeps the pools open in summer and raises the property tax by 1.9 percent."
	tests := []struct{ name, in, want string }{
		{"short lines stay", "Hello Ada, here are the 3 new stories.\n\n== Title ==", "Hello Ada, here are the 3 new stories.\n\n== Title =="},
		{"a link alone stays", "https://news.example.org/articles/" + strings.Repeat("x", 80), "https://news.example.org/articles/" + strings.Repeat("x", 80)},
		{"a link beside text goes on its own line", "Read the story: https://news.example.org/articles/a", "Read the story:\nhttps://news.example.org/articles/a"},
		{"a bullet wraps under its text", long,
			"  * The council voted 31 to 20 for a budget that adds 45 bus drivers, keeps\n    the pools open in summer and raises the property tax by 1.9 percent."},
		{"a link inside a bullet", "  * See https://e.org/report for more.", "  * See\n    https://e.org/report\n    for more."},
		{"the signature separator", "-- \nYou receive it", "-- \nYou receive it"},
	}
	for _, tt := range tests {
		if got := wrapText(tt.in); got != tt.want {
			t.Errorf("%s:\n%q\nwant\n%q", tt.name, got, tt.want)
		}
	}
}

func FuzzWrapText(f *testing.F) {
	f.Add("  * The council voted 31 to 20 for a budget that adds 45 bus drivers, keeps the pools open and more words here too.")
	f.Add("Read: https://e.org/a and https://e.org/b")
	f.Add("日本語のテキスト " + strings.Repeat("長い ", 40))
	f.Fuzz(func(t *testing.T, s string) {
		out := wrapText(s)
		if strings.Join(strings.Fields(out), " ") != strings.Join(strings.Fields(s), " ") {
			t.Fatalf("words changed:\n%q\n%q", s, out)
		}
		if wrapText(out) != out {
			t.Fatalf("not stable: %q -> %q -> %q", s, out, wrapText(out))
		}
		for _, line := range strings.Split(out, "\n") {
			if uniseg.StringWidth(line) > TextWidth && len(strings.Fields(line)) > 1 {
				t.Fatalf("a line of %d columns with several words: %q", uniseg.StringWidth(line), line)
			}
		}
	})
}
