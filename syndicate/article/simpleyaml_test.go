package article

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// sameTree compares what the front matter reader uses of two node trees.
func sameTree(t *testing.T, fast, full *yaml.Node) {
	t.Helper()
	if fast.Kind != full.Kind || fast.Value != full.Value || fast.Line != full.Line || fast.ShortTag() != full.ShortTag() || len(fast.Content) != len(full.Content) {
		t.Fatalf("differs from yaml.v3:\nfast kind=%v value=%q line=%d tag=%s n=%d\nfull kind=%v value=%q line=%d tag=%s n=%d",
			fast.Kind, fast.Value, fast.Line, fast.ShortTag(), len(fast.Content), full.Kind, full.Value, full.Line, full.ShortTag(), len(full.Content))
	}
	for i := range fast.Content {
		sameTree(t, fast.Content[i], full.Content[i])
	}
}

func TestSimpleYAML(t *testing.T) {
	accepted := []string{
		"title: North Sea wind auction draws record bids as costs fall\ndate: 2026-11-27T08:30:00Z\ntags: [Offshore Wind, north-sea, energy]\nimage: offshore-wind.png\ndraft: true\nkey_points:\n  - Eleven consortia bid for four sites.\n  - The price is 18% lower than last year.\n",
		"url: https://news.example.org/a?b=c\nlang: pt-BR\n",
		"tags: [a]\n",
	}
	for _, src := range accepted {
		fast, ok := simpleYAML(src)
		if !ok {
			t.Errorf("not accepted: %q", src)
			continue
		}
		var full yaml.Node
		if err := yaml.Unmarshal([]byte(src), &full); err != nil {
			t.Fatal(err)
		}
		sameTree(t, fast, &full)
	}
	for _, src := range []string{
		"title: \"quoted\"\n", "title: a: b\n", "title: x # comment\n", "tags: [a, [b]]\n", "title:\n", "key_points:\n- flush\n",
		"Title: x\n", "title: &a x\n", "title: |\n  block\n", "", "title: x\n  continued\n", "tags: [a,  b]\n", "title: -x\n",
	} {
		if _, ok := simpleYAML(src); ok {
			t.Errorf("accepted %q: it should go to yaml.v3", src)
		}
	}
}

// FuzzSimpleYAML: whatever the fast path accepts, yaml.v3 reads to the
// same tree.
func FuzzSimpleYAML(f *testing.F) {
	f.Add("title: x\ntags: [a, b]\nkey_points:\n  - one\n  - two\ndraft: false\n")
	f.Add("date: 2024-05-01\nlang: en\n")
	f.Add("title: 1e3\ntags: [yes, no, null, ~]\n")
	f.Fuzz(func(t *testing.T, src string) {
		fast, ok := simpleYAML(src)
		if !ok {
			return
		}
		var full yaml.Node
		if err := yaml.Unmarshal([]byte(src), &full); err != nil {
			t.Fatalf("the fast path accepted what yaml.v3 rejects: %q: %v", src, err)
		}
		sameTree(t, fast, &full)
	})
}
