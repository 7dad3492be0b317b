package article

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// simpleYAML builds the node tree of front matter written in the plain
// subset most articles use — "key: value", "key: [a, b]" and "key:"
// followed by "  - item" lines, with plain values — as yaml.v3 would, and
// reports false for anything else, which then goes to yaml.v3. Parsing the
// YAML was a third of the time of reading an article; FuzzSimpleYAML
// checks that whatever this accepts, yaml.v3 reads the same way.
func simpleYAML(src string) (*yaml.Node, bool) {
	if !yamlPrintable(src) {
		return nil, false
	}
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}
	lines := strings.Split(strings.TrimSuffix(src, "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || !isSimpleKey(line[:colon]) {
			return nil, false
		}
		key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: line[:colon], Line: i + 1, Column: 1}
		rest := line[colon+1:]
		switch {
		case rest == "":
			// A block list must follow: "  - item" lines.
			seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: i + 2, Column: 3}
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "  - ") {
				item := lines[i+1][4:]
				if !isPlainValue(item, false) {
					return nil, false
				}
				seq.Content = append(seq.Content, scalar(item, i+2, 5))
				i++
			}
			if len(seq.Content) == 0 {
				return nil, false
			}
			root.Content = append(root.Content, key, seq)
		case strings.HasPrefix(rest, " [") && strings.HasSuffix(rest, "]"):
			seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle, Line: i + 1, Column: colon + 3}
			inner := rest[2 : len(rest)-1]
			col := colon + 4
			for _, item := range strings.Split(inner, ",") {
				lead := len(item) - len(strings.TrimLeft(item, " "))
				trimmed := strings.TrimSpace(item)
				if !isPlainValue(trimmed, true) || strings.Contains(item, "  ") {
					return nil, false
				}
				seq.Content = append(seq.Content, scalar(trimmed, i+1, col+lead))
				col += len(item) + 1
			}
			root.Content = append(root.Content, key, seq)
		case strings.HasPrefix(rest, " ") && isPlainValue(rest[1:], false):
			root.Content = append(root.Content, key, scalar(rest[1:], i+1, colon+3))
		default:
			return nil, false
		}
	}
	if len(root.Content) == 0 {
		return nil, false
	}
	return &yaml.Node{Kind: yaml.DocumentNode, Line: 1, Column: 1, Content: []*yaml.Node{root}}, true
}

func scalar(v string, line, col int) *yaml.Node {
	// No tag: yaml.v3 resolves it (true is a bool, 3 an int) when decoded.
	return &yaml.Node{Kind: yaml.ScalarNode, Value: v, Line: line, Column: col}
}

// isSimpleKey reports a key of lower-case letters and underscores, short
// enough to be an implicit key: YAML allows those at most 1024 characters.
func isSimpleKey(k string) bool {
	if len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(c >= 'a' && c <= 'z' || c == '_') {
			return false
		}
	}
	return k != ""
}

// isPlainValue reports a value YAML reads as written: it starts with a
// letter or digit (so not a quote, anchor, tag, block or directive), ends
// with neither space nor colon, and holds no comment (" #"), no mapping
// (": "), no tab and no bracket.
func isPlainValue(v string, inFlow bool) bool {
	if v == "" || v[len(v)-1] == ' ' || v[len(v)-1] == ':' {
		return false
	}
	if c := v[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
		return false
	}
	if strings.Contains(v, ": ") || strings.Contains(v, " #") || strings.ContainsAny(v, "\t{}[]") {
		return false
	}
	if inFlow {
		// Inside [ ] more characters mean something: keep to words.
		for _, r := range v {
			if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || r == '-' || r == '_' || r == '.' || r == '/') {
				return false
			}
		}
	}
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] == 0x7f {
			return false
		}
	}
	return true
}

// yamlPrintable reports text made only of the characters YAML allows
// (its c-printable set, tab and line feed).
func yamlPrintable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r >= 0x20 && r <= 0x7e:
		case r == 0x2028 || r == 0x2029:
			return false // YAML line breaks: leave them to yaml.v3
		case r >= 0xa0 && r <= 0xd7ff || r >= 0xe000 && r <= 0xfffd && r != 0xfeff || r >= 0x10000 && r <= 0x10ffff:
		default:
			return false
		}
	}
	return true
}
