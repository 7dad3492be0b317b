package digest

import (
	"strings"
	"testing"
)

// TestDisplaySize: a picture fits the 536 × 1600 box, keeps its
// proportions (rounded to the pixel), is never enlarged, and an unknown
// or absurd size never overflows or reaches 0.
func TestDisplaySize(t *testing.T) {
	tests := []struct {
		w, h         int
		wantW, wantH int
	}{
		{1200, 800, 536, 357},
		{1600, 900, 536, 302},
		{536, 300, 536, 300},
		{537, 300, 536, 299},
		{300, 200, 300, 200},
		{1, 1, 1, 1},
		{1000, 4000, 400, 1600},
		{536, 1601, 536, 1600},
		{1 << 30, 1, 536, 1},
		{1<<31 - 1, 1<<31 - 1, 536, 536},
		{1, 1 << 30, 1, 1600},
		{0, 0, 536, 0},
		{800, 0, 536, 0},
		{0, 600, 536, 0},
		{-5, 10, 536, 0},
	}
	for _, tt := range tests {
		gotW, gotH := displaySize(tt.w, tt.h)
		if got, want := [2]int{gotW, gotH}, [2]int{tt.wantW, tt.wantH}; got != want {
			t.Errorf("displaySize(%d, %d) = %v, want %v", tt.w, tt.h, got, want)
		}
	}
}

// TestMediaURL: the picture's path relative to the articles folder, each
// segment escaped, after the base; nothing for a path outside it.
func TestMediaURL(t *testing.T) {
	dir := "/srv/news/articles"
	tests := []struct {
		base, path, want string
	}{
		{"https://cdn.example.org/m/", "/srv/news/articles/a.png", "https://cdn.example.org/m/a.png"},
		{"https://cdn.example.org/m", "/srv/news/articles/a.png", "https://cdn.example.org/m/a.png"},
		{"https://cdn.example.org", "/srv/news/articles/2026/11/a b.png", "https://cdn.example.org/2026/11/a%20b.png"},
		{"https://cdn.example.org/", "/srv/news/articles/q?x=1#f.png", "https://cdn.example.org/q%3Fx=1%23f.png"},
		{"https://cdn.example.org/", `/srv/news/articles/"onerror=alert(1)".png`, "https://cdn.example.org/%22onerror=alert%281%29%22.png"},
		{"https://cdn.example.org/", "/srv/news/articles/<b>%2e%2e.png", "https://cdn.example.org/%3Cb%3E%252e%252e.png"},
		{"https://cdn.example.org/", "/srv/news/articles/sub/../a.png", "https://cdn.example.org/a.png"},
		{"https://cdn.example.org/", "/srv/news/articles/../static/a.png", ""},
		{"https://cdn.example.org/", "/srv/news/static/images/a.png", ""},
		{"https://cdn.example.org/", "/srv/news/articles-old/a.png", ""},
		{"https://cdn.example.org/", "/srv/news/articles", ""},
		{"https://cdn.example.org/", "/etc/passwd", ""},
		{"", "/srv/news/articles/a.png", ""},
		{"https://cdn.example.org/", "", ""},
	}
	for _, tt := range tests {
		if got := mediaURL(tt.base, dir, tt.path); got != tt.want {
			t.Errorf("mediaURL(%q, %q) = %q, want %q", tt.base, tt.path, got, tt.want)
		}
	}
	// A URL over the length limit is no URL.
	long := "/srv/news/articles/" + strings.Repeat("a", 2100) + ".png"
	if got := mediaURL("https://cdn.example.org/", dir, long); got != "" {
		t.Errorf("a %d-byte URL was made", len(got))
	}
}
