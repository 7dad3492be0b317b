package feed

import (
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
