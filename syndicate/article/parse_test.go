package article

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/files"
)

func TestParse_SeedArticle(t *testing.T) {
	data, err := os.ReadFile("../../articles/shehbaz-sharif-putin-letters.txt")
	if err != nil {
		t.Fatal(err)
	}
	a, err := Parse("articles/shehbaz-sharif-putin-letters.txt", data, Options{BaseURL: "https://news.example.org/articles"})
	if err != nil {
		t.Fatal(err)
	}
	// The seed has no headline: its first key point is the title, and is
	// not repeated as a key point (readers would see it twice).
	wantPoints := []string{
		"Shehbaz Sharif aims to reset and strengthen Pakistan's bilateral ties with Russia: Official",
		"The Pakistani PM also plans to reset ties with the European Union and United States",
		"Shehbaz ascended to the PM post after the parliament ousted Imran Khan in a no-trust vote",
	}
	if got, want := strings.Join(a.KeyPoints, "\n"), strings.Join(wantPoints[1:], "\n"); got != want {
		t.Errorf("key points:\n%s\nwant:\n%s", got, want)
	}
	if got, want := a.ID, "shehbaz-sharif-putin-letters"; got != want {
		t.Errorf("ID = %q, want %q", got, want)
	}
	if got, want := a.Title, wantPoints[0]; got != want {
		t.Errorf("Title = %q, want the first key point %q", got, want)
	}
	if got, want := a.URL, "https://news.example.org/articles/shehbaz-sharif-putin-letters"; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
	const caption = "Pakistan Prime Minister Shehbaz Sharif (white suit) leaving a meeting in Karachi the day after being sworn in"
	if a.Image == nil || a.Image.Alt != caption || a.Image.Credit != "AFP / Asif HASSAN" || a.Image.Path != "" {
		t.Errorf("Image = %+v, want the caption as alt text and credit AFP / Asif HASSAN", a.Image)
	}
	for _, p := range a.Body {
		if strings.Contains(p, "white suit") || strings.Contains(p, "Asif HASSAN") {
			t.Errorf("caption or credit left in the body: %q", p)
		}
	}
	if got, want := len(a.Body), 10; got != want {
		t.Errorf("body has %d paragraphs, want %d", got, want)
	}
	if !strings.HasPrefix(a.Body[0], "Russian President Vladimir Putin") {
		t.Errorf("first paragraph = %q", a.Body[0])
	}
}

func TestParse_Forms(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		title     string
		points    []string
		body      int // paragraphs
		url       string
		alt       string
		credit    string
		draft     bool
		lang      string
		tagsCount int
	}{
		{
			name:   "nbsp and runs of spaces collapse",
			src:    "KEY POINTS\n\n  • the\u00a0 parliament  voted\n\nBody.\n",
			title:  "the parliament voted",
			points: nil, body: 1,
		},
		{
			name:   "headline, lower-case heading with colon, mixed bullets, numbered",
			src:    "Council passes budget\n\nKey points:\n- one\n* two\n– three\n1. four\n2) five\n\nThe body.\n",
			title:  "Council passes budget",
			points: []string{"one", "two", "three", "four", "five"}, body: 1,
		},
		{
			name:   "wrapped bullet continues on an indented line",
			src:    "KEY POINTS\n  • a long point that\n    wraps here\n  • second\n\nBody text.\n",
			title:  "a long point that wraps here",
			points: []string{"second"}, body: 1,
		},
		{
			name:   "blank lines between bullets",
			src:    "KEY POINTS\n\n• one\n\n• two\n\nBody.\n",
			title:  "one",
			points: []string{"two"}, body: 1,
		},
		{
			name:  "markdown heading as title, markdown key points heading",
			src:   "# The Title\n\n## Key points\n\n- alpha\n- beta\n\nText here.\n\n## Section\n\nMore.\n",
			title: "The Title", points: []string{"alpha", "beta"}, body: 3,
		},
		{
			name:  "front matter wins and key_points replace the block",
			src:   "---\ntitle: FM title\nurl: https://x.example/a\nkey_points: [x, y]\ntags: climate\nlang: pt-BR\ndraft: true\nimage_alt: a picture\ncredit: Me\n---\nKEY POINTS\n- ignored\n\nBody.\n",
			title: "FM title", points: []string{"x", "y"}, body: 1, url: "https://x.example/a", alt: "a picture", credit: "Me",
			draft: true, lang: "pt-BR", tagsCount: 1,
		},
		{
			name:  "no key points: title from a short first line",
			src:   "Library reopens\n\nThe library reopened on Saturday.\n",
			title: "Library reopens", points: nil, body: 1,
		},
		{
			name:  "no key points and no headline: title from the first paragraph",
			src:   "The library reopened on Saturday after two years.\n",
			title: "The library reopened on Saturday after two years.", points: nil, body: 1,
		},
		{
			name:  "caption printed twice without credit",
			src:   "KEY POINTS\n- p\n\nBody.\n\nA photo of a cat\nA photo of a cat\n",
			title: "p", points: nil, body: 1, alt: "A photo of a cat",
		},
		{
			name:  "CRLF line ends and a byte-order mark",
			src:   "\ufeffKEY POINTS\r\n\r\n- one\r\n- two\r\n\r\nBody.\r\n",
			title: "one", points: []string{"two"}, body: 1,
		},
		{
			name:  "NFC normalisation",
			src:   "KEY POINTS\n- cafe\u0301\n\nBody.\n",
			title: "caf\u00e9", points: nil, body: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Parse("a/x.md", []byte(tt.src), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := a.Title, tt.title; got != want {
				t.Errorf("Title = %q, want %q", got, want)
			}
			if got, want := strings.Join(a.KeyPoints, "|"), strings.Join(tt.points, "|"); got != want {
				t.Errorf("KeyPoints = %q, want %q", got, want)
			}
			if got, want := len(a.Body), tt.body; got != want {
				t.Errorf("len(Body) = %d (%q), want %d", got, a.Body, want)
			}
			if got, want := a.URL, tt.url; got != want {
				t.Errorf("URL = %q, want %q", got, want)
			}
			var alt, credit string
			if a.Image != nil {
				alt, credit = a.Image.Alt, a.Image.Credit
			}
			if alt != tt.alt || credit != tt.credit {
				t.Errorf("image alt/credit = %q/%q, want %q/%q", alt, credit, tt.alt, tt.credit)
			}
			if got, want := a.Draft, tt.draft; got != want {
				t.Errorf("Draft = %v, want %v", got, want)
			}
			if got, want := a.Lang, tt.lang; got != want {
				t.Errorf("Lang = %q, want %q", got, want)
			}
			if got, want := len(a.Tags), tt.tagsCount; got != want {
				t.Errorf("len(Tags) = %d, want %d", got, want)
			}
		})
	}
}

func TestParse_CorrectionAndRetracted(t *testing.T) {
	a, err := Parse("art.md", []byte("---\ntitle: T\ncorrection: \"  The vote was  on Tuesday.\\u00a0\"\nretracted: true\n---\nbody\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.Correction, "The vote was on Tuesday."; got != want || !a.Retracted {
		t.Errorf("correction %q (want %q), retracted %v", got, want, a.Retracted)
	}
	b, err := Parse("art.md", []byte("---\ntitle: T\n---\nbody\n"), Options{})
	if err != nil || b.Correction != "" || b.Retracted {
		t.Errorf("%+v %v", b, err)
	}
}

func TestParse_Date(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Lisbon")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"2024-05-01", "2024-05-01T00:00:00+01:00"},
		{"2024-05-01 09:30", "2024-05-01T09:30:00+01:00"},
		{"2024-05-01T09:30:00Z", "2024-05-01T09:30:00Z"},
		{"'2024-12-01T09:30:00+02:00'", "2024-12-01T09:30:00+02:00"},
	}
	for _, tt := range tests {
		a, err := Parse("x.md", []byte("---\ndate: "+tt.in+"\ntitle: t\n---\n"), Options{Location: loc})
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if got := a.Date.Format(time.RFC3339); got != tt.want {
			t.Errorf("date %s = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestParse_Errors(t *testing.T) {
	big := bytes.Repeat([]byte("a"), MaxSize+1)
	tests := []struct {
		name string
		src  []byte
		want string // the whole error: path:line: message prefix
	}{
		{"empty", []byte(""), "art.md:1: empty article"},
		{"only spaces", []byte("  \n\n \t\n"), "art.md:1: empty article"},
		{"binary", []byte("hello\nwor\x00ld"), "art.md:2: binary data"},
		{"invalid UTF-8", []byte("ok\nok\nbad \xff byte"), "art.md:3: invalid UTF-8"},
		{"unterminated front matter", []byte("---\ntitle: x\nbody\n"), "art.md:1: front matter opened with --- is never closed"},
		{"YAML syntax error", []byte("---\ntitle: x\ntags: [a, b\n---\nbody\n"), "art.md:"},
		{"YAML wrong type", []byte("---\ntitle: x\ntags:\n  a: b\n---\nbody\n"), "art.md:4: front matter: tags: want a list"},
		{"unknown key", []byte("---\ntitle: x\nkey_point: [a]\n---\nbody\n"), "art.md:3: front matter: unknown key \"key_point\""},
		{"bad date", []byte("---\ntitle: x\ndate: yesterday\n---\nbody\n"), "art.md:3: front matter: date: \"yesterday\" is not a date"},
		{"bad url", []byte("---\nurl: ftp://x\n---\nbody\n"), "art.md:2: front matter: url: not an http(s) URL"},
		{"bad draft", []byte("---\ndraft: maybe\n---\nbody\n"), "art.md:2: front matter: draft: want true or false"},
		{"bad retracted", []byte("---\ntitle: T\nretracted: soon\n---\nbody\n"), "art.md:3: front matter: retracted: want true or false"},
		{"correction as a list", []byte("---\ncorrection:\n  - a\n---\nbody\n"), "art.md:3: front matter: correction: want a single value"},
		{"correction too long", []byte("---\ntitle: T\ncorrection: " + strings.Repeat("é", 501) + "\n---\nbody\n"), "art.md:3: front matter: correction: 501 characters, more than 500"},
		{"bad lang", []byte("---\nlang: english!\n---\nbody\n"), "art.md:2: front matter: lang:"},
		{"missing image", []byte("---\ntitle: t\nimage: nope.png\n---\nbody\n"), "art.md:3: front matter: image:"},
		{"too big", big, "art.md:1: file is"},
		{"front matter only, nothing else", []byte("---\ntags: [a]\n---\n"), "art.md:4: no title, key points or text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("art.md", tt.src, Options{Images: noImages{}})
			if err == nil {
				t.Fatal("no error")
			}
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %T is not an *article.Error", err)
			}
			if got := err.Error(); !strings.HasPrefix(got, tt.want) {
				t.Errorf("error = %q, want it to start with %q", got, tt.want)
			}
		})
	}
	// A YAML error points into the front matter (lines 2 to 4 here), not
	// at the line numbers of the YAML text alone.
	_, err := Parse("art.md", []byte("---\ntitle: x\n  bad: indent\n---\nbody\n"), Options{})
	if got, want := err.Error(), "art.md:3: front matter: mapping values are not allowed in this context"; got != want {
		t.Errorf("YAML error = %q, want %q", got, want)
	}
}

// noImages finds no picture anywhere.
type noImages struct{}

func (noImages) Check(path string, _ int64) (string, error) {
	return "", &files.Problem{Path: path, Reason: "not found"}
}

func TestLoadDir_SkipsBrokenAndOthers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("good.md", "---\ntitle: Good\n---\nText.\n")
	write("also-good.txt", "KEY POINTS\n- a point\n\nBody.\n")
	write("broken.md", "---\ntitle: x\n")
	write("empty.txt", "")
	write("photo.jpg", "\xff\xd8\xff")
	write(".hidden.md", "---\n")
	write("good.txt", "Same ID as good.md\n")
	if err := os.Mkdir(filepath.Join(dir, "sub.md"), 0o755); err != nil {
		t.Fatal(err)
	}
	set, err := LoadDir(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range set.Articles {
		ids = append(ids, a.ID)
	}
	if got, want := strings.Join(ids, ","), "also-good,good"; got != want {
		t.Errorf("articles = %s, want %s", got, want)
	}
	if got, want := len(set.Problems), 3; got != want {
		t.Fatalf("problems = %v, want %d", set.Problems, want)
	}
	joined := ""
	for _, p := range set.Problems {
		joined += p.Error() + "\n"
	}
	for _, want := range []string{"broken.md:1: front matter", "empty.txt:1: empty article", "good.txt:1: article ID \"good\" is already used"} {
		if !strings.Contains(joined, want) {
			t.Errorf("problems lack %q:\n%s", want, joined)
		}
	}
}

func TestLoadFile_TooBigIsNotRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.txt")
	if err := os.WriteFile(path, bytes.Repeat([]byte("word "), MaxSize/4), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "big.txt:1: file is") {
		t.Errorf("err = %v, want a size error", err)
	}
}

// FuzzParse: no input panics; an accepted article has a title, and its
// text is normalised (valid UTF-8, no double spaces or no-break spaces).
func FuzzParse(f *testing.F) {
	seed, _ := os.ReadFile("../../articles/shehbaz-sharif-putin-letters.txt")
	f.Add(seed)
	f.Add([]byte("---\ntitle: x\ntags: [a, b]\nkey_points:\n  - one\n---\nbody\n"))
	f.Add([]byte("Headline\n\nKEY POINTS\n- a\n* b\n1. c\n\nBody.\n\nCap\nCap AFP\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("\xff\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Parse("fuzz.md", data, Options{BaseURL: "https://example.org/"})
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) || ae.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		if a.Title == "" {
			t.Fatal("accepted article without a title")
		}
		check := func(what, s string) {
			if !utf8.ValidString(s) || strings.Contains(s, "  ") || strings.ContainsRune(s, '\u00a0') || s != strings.TrimSpace(s) {
				t.Fatalf("%s not normalised: %q", what, s)
			}
		}
		check("title", a.Title)
		for _, k := range a.KeyPoints {
			if k == "" {
				t.Fatal("empty key point")
			}
			check("key point", k)
		}
		for _, p := range a.Body {
			check("paragraph", p)
		}
	})
}

// FuzzFrontMatter: any front matter text decodes or fails with a line
// inside it; it never panics.
func FuzzFrontMatter(f *testing.F) {
	f.Add("title: x\ntags: [a, b]\nkey_points:\n  - one\ndate: 2024-05-01\ndraft: true\n")
	f.Add("tags: {a: b}\n")
	f.Add("title: &a x\nurl: *a\n")
	f.Add("- just\n- a list\n")
	f.Add("key_points: [\"\\u00a0\"]\nlang: en\n")
	f.Fuzz(func(t *testing.T, src string) {
		var fm frontMatter
		if err := fm.parse(src, 2); err != nil {
			if err.Line < 2 {
				t.Fatalf("error before the front matter: %+v", err)
			}
			return
		}
		a := &syndicate.Article{Path: "a/x.md"}
		if err := fm.apply(a, Options{}); err != nil && err.Line < 0 {
			t.Fatalf("bad line: %+v", err)
		}
	})
}
