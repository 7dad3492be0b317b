package digest

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// Issue renders one digest for many readers. Running the templates for
// every reader would make rendering, not the relay, the limit of a send;
// so the templates run once per "shape" of reader (which of their fields
// are empty, which is all an {{if}} can see) with markers where the
// reader's values go, and each reader's copy is the skeleton with the
// markers replaced by their escaped values.
//
// Before a shape is used it is checked: a probe reader with awkward
// characters (quotes, ampersands, angle brackets, plus signs, accents) is
// rendered both ways, and if the results differ — a template that
// compares, slices or re-escapes a reader's value — the issue renders
// every reader exactly instead. Correct first, fast when it can be.
type Issue struct {
	r *Renderer
	d Digest

	mu     sync.Mutex
	shapes map[string]*skeleton
	exact  bool
}

// Issue prepares d for rendering to many readers; it is safe for
// concurrent use.
func (r *Renderer) Issue(d Digest) *Issue {
	return &Issue{r: r, d: d, shapes: map[string]*skeleton{}, exact: !r.fast}
}

// Exact reports whether the issue fell back to rendering every reader
// with the templates.
func (is *Issue) Exact() bool { is.mu.Lock(); defer is.mu.Unlock(); return is.exact }

// Render renders the digest for one reader.
func (is *Issue) Render(reader syndicate.Reader, unsubscribeURL string) (Message, error) {
	fields := fieldList(reader, unsubscribeURL)
	for _, f := range fields {
		if !covered(f.name, f.value) {
			return is.r.Render(is.d, reader, unsubscribeURL)
		}
	}
	key := shapeKey(fields)
	is.mu.Lock()
	sk, ok := is.shapes[key]
	exact := is.exact
	if !ok && !exact {
		var err error
		sk, err = is.prepare(fields)
		if err != nil {
			is.mu.Unlock()
			return Message{}, err
		}
		if sk == nil {
			is.exact, exact = true, true
		} else {
			is.shapes[key] = sk
		}
	}
	is.mu.Unlock()
	if exact {
		return is.r.Render(is.d, reader, unsubscribeURL)
	}
	return sk.fill(fields).finish(), nil
}

// field is one per-reader value: its name and value.
type field struct{ name, value string }

// fieldList lists a reader's values in a stable order.
func fieldList(r syndicate.Reader, unsub string) []field {
	out := []field{{"email", r.Email}, {"name", r.Name}, {"unsubscribe", unsub}}
	keys := make([]string, 0, len(r.Fields))
	for k := range r.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, field{"field:" + k, r.Fields[k]})
	}
	return out
}

func shapeKey(fields []field) string {
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(f.name)
		if f.value == "" {
			b.WriteString("=0;")
		} else {
			b.WriteString("=1;")
		}
	}
	return b.String()
}

// marker is what stands for field i in a skeleton: letters and digits
// only, so every escaper leaves it alone.
func marker(i int) string { return fmt.Sprintf("zqsyndicatemark%dq", i) }

// readerWith builds a reader whose values are those given, by field.
func readerWith(fields []field, value func(i int, f field) string) (syndicate.Reader, string) {
	var r syndicate.Reader
	var unsub string
	for i, f := range fields {
		v := value(i, f)
		switch {
		case f.name == "email":
			r.Email = v
		case f.name == "name":
			r.Name = v
		case f.name == "unsubscribe":
			unsub = v
		default:
			if r.Fields == nil {
				r.Fields = map[string]string{}
			}
			r.Fields[strings.TrimPrefix(f.name, "field:")] = v
		}
	}
	return r, unsub
}

// prepare renders the skeleton of a shape and checks it with a probe. It
// returns nil when the templates need exact rendering.
func (is *Issue) prepare(fields []field) (*skeleton, error) {
	markReader, markUnsub := readerWith(fields, func(i int, f field) string {
		if f.value == "" {
			return ""
		}
		return marker(i)
	})
	m, err := is.r.execute(is.d, markReader, markUnsub)
	if err != nil {
		return nil, err
	}
	sk := &skeleton{subject: split(m.Subject), html: split(m.HTML), text: split(m.Text)}

	probe := func(i int, f field) string {
		if f.value == "" {
			return ""
		}
		return fmt.Sprintf(probeFormat(f.name), i)
	}
	probeReader, probeUnsub := readerWith(fields, probe)
	want, err := is.r.Render(is.d, probeReader, probeUnsub)
	if err != nil {
		return nil, err
	}
	probeFields := make([]field, len(fields))
	for i, f := range fields {
		probeFields[i] = field{f.name, probe(i, f)}
	}
	if sk.fill(probeFields).finish() != want {
		return nil, nil
	}
	return sk, nil
}

// probeFormat is the probe value of a field (with %d for its index). It
// holds every character a real value may hold on the fast path: a value
// with any other ASCII punctuation is rendered exactly (see covered).
func probeFormat(name string) string {
	switch name {
	case "email":
		return "o'brien+news.x-y_z%d@example.org"
	case "unsubscribe":
		return "https://news.example.org/unsubscribe?list=a.b&token=QWJj%d.ZGVm-_="
	}
	return "Zoë \"O'Brien\" <b> & +=%%#/?:;@,.!()[]{}~*$-_|\\`^ %d"
}

// covered reports whether every character of value occurs in the field's
// probe (letters, digits and non-ASCII characters always do).
func covered(name, value string) bool {
	probe := probeFormat(name)
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c >= 0x80 || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if strings.IndexByte(probe, c) < 0 {
			return false
		}
	}
	return true
}

// skeleton is a rendered message with markers, cut into pieces.
type skeleton struct {
	subject, html, text []piece
}

// piece is literal text, then (when field >= 0) a reader's value.
type piece struct {
	text  string
	field int
}

func split(s string) []piece {
	var out []piece
	for {
		i := strings.Index(s, "zqsyndicatemark")
		if i < 0 {
			return append(out, piece{text: s, field: -1})
		}
		j := strings.IndexByte(s[i+len("zqsyndicatemark"):], 'q')
		if j < 0 {
			return append(out, piece{text: s, field: -1})
		}
		var n int
		fmt.Sscanf(s[i+len("zqsyndicatemark"):], "%d", &n)
		out = append(out, piece{text: s[:i], field: n})
		s = s[i+len("zqsyndicatemark")+j+1:]
	}
}

func (sk *skeleton) fill(fields []field) Message {
	return Message{
		Subject: join(sk.subject, fields, func(s string) string { return s }),
		HTML:    join(sk.html, fields, htmlEscaper.Replace),
		Text:    join(sk.text, fields, func(s string) string { return s }),
	}
}

// htmlEscaper escapes as html/template does in HTML text and quoted
// attributes (its htmlReplacementTable); the probe in prepare checks it.
var htmlEscaper = strings.NewReplacer("\x00", "\ufffd", `"`, "&#34;", "&", "&amp;", "'", "&#39;", "+", "&#43;", "<", "&lt;", ">", "&gt;")

func join(pieces []piece, fields []field, escape func(string) string) string {
	n := 0
	for _, p := range pieces {
		n += len(p.text) + 32
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range pieces {
		b.WriteString(p.text)
		if p.field >= 0 && p.field < len(fields) {
			b.WriteString(escape(fields[p.field].value))
		}
	}
	return b.String()
}
