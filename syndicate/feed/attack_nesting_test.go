package feed

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Deeply nested lists that the tree builder refuses are read flat; each
// paragraph's list depth must not cost a walk over every open list, or a
// feed of nested <ul><li> takes quadratic time.
func TestDeepListsAreLinear(t *testing.T) {
	src := strings.Repeat("<ul><li>x", 200000)
	start := time.Now()
	h := parseHTML(src, nil)
	if len(h.blocks) != 200000 {
		t.Fatalf("got %d blocks, want 200000", len(h.blocks))
	}
	if last := h.blocks[len(h.blocks)-1]; last.depth != 200000 {
		t.Fatalf("the innermost item has depth %d, want 200000", last.depth)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("200000 nested lists took %s", d)
	}
}

// A title or categories of megabytes count against MaxItemText as the
// body does: the item is skipped, not kept with a 2 MiB title.
func TestHugeTitleIsOverTheItemLimit(t *testing.T) {
	for name, it := range map[string]string{
		"title":      `<item><guid>g</guid><title>` + strings.Repeat("word ", 400000) + `</title></item>`,
		"categories": `<item><guid>g</guid><title>X</title>` + categories(2000) + `</item>`,
	} {
		t.Run(name, func(t *testing.T) {
			f, err := Parse(Config{URL: "https://site.example/", Name: "site"}, rssFeed("", it), ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Items) != 0 || len(f.Problems) != 1 || !strings.Contains(f.Problems[0].Error(), "over the 1 MiB limit") {
				t.Errorf("%d articles, problems %v", len(f.Items), f.Problems)
			}
		})
	}
}

// categories is n distinct categories of about 1000 bytes each.
func categories(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "<category>%d%s</category>", i, strings.Repeat("w", 1000))
	}
	return b.String()
}
