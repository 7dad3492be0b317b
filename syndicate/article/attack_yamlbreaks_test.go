package article

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// ATTACK: yamlPrintable lets U+0085 (NEL), U+2028 and U+2029 through, but
// YAML (and yaml.v3) treats them as line breaks. The fast path then accepts
// front matter that yaml.v3 rejects or reads differently — the invariant
// FuzzSimpleYAML promises ("whatever this accepts, yaml.v3 reads the same
// way") — so the bot and any YAML tool reading the same file (the static
// site generator) disagree about the article.
func TestAttack_SimpleYAMLUnicodeLineBreaks(t *testing.T) {
	for _, src := range []string{"title: a\u2028b\n", "title: a\u0085b\n", "tags:\n  - a\u2029b\n", "title: a\u2028 - b\n"} {
		fast, ok := simpleYAML(src)
		if !ok {
			continue
		}
		var full yaml.Node
		if err := yaml.Unmarshal([]byte(src), &full); err != nil {
			t.Errorf("%q: the fast path accepted what yaml.v3 rejects: %v", src, err)
			continue
		}
		if got, want := fast.Content[0].Content[1].Value, full.Content[0].Content[1].Value; got != want {
			t.Errorf("%q: fast path reads %q, yaml.v3 %q", src, got, want)
		}
	}
}
