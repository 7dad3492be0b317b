package article

import (
	"errors"
	"strings"
	"testing"
)

// anyImage takes every picture file as a PNG.
type anyImage struct{}

func (anyImage) Check(string, int64) (string, error) { return "image/png", nil }

// TestParse_ImageURL: image_url is the picture's public URL, with or
// without a picture file; image_alt, credit and a printed caption apply
// to it.
func TestParse_ImageURL(t *testing.T) {
	tests := []struct {
		name                   string
		src                    string
		path, url, alt, credit string
	}{
		{"image_url alone", "---\ntitle: T\nimage_url: https://cdn.example.org/2026/wind.jpg\nimage_alt: Turbines\ncredit: AFP\n---\nBody.\n",
			"", "https://cdn.example.org/2026/wind.jpg", "Turbines", "AFP"},
		{"with a picture file", "---\ntitle: T\nimage: pics/wind.png\nimage_url: \"https://cdn.example.org/wind.png?w=1200&fm=png\"\n---\nBody.\n",
			"a/pics/wind.png", "https://cdn.example.org/wind.png?w=1200&fm=png", "", ""},
		{"spaces around it", "---\ntitle: T\nimage_url: '  http://cdn.example.org/a.gif  '\n---\nBody.\n",
			"", "http://cdn.example.org/a.gif", "", ""},
		{"the printed caption is its alt text", "---\nimage_url: https://cdn.example.org/cat.jpg\n---\nKEY POINTS\n- p\n\nBody.\n\nA photo of a cat\nA photo of a cat AFP / Someone\n",
			"", "https://cdn.example.org/cat.jpg", "A photo of a cat", "AFP / Someone"},
		{"empty is none", "---\ntitle: T\nimage_url: \"\"\n---\nBody.\n", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Parse("a/x.md", []byte(tt.src), Options{Images: anyImage{}})
			if err != nil {
				t.Fatal(err)
			}
			var path, url, alt, credit string
			if a.Image != nil {
				path, url, alt, credit = a.Image.Path, a.Image.URL, a.Image.Alt, a.Image.Credit
			}
			if got, want := [4]string{path, url, alt, credit}, [4]string{tt.path, tt.url, tt.alt, tt.credit}; got != want {
				t.Errorf("image path, URL, alt, credit = %q, want %q", got, want)
			}
		})
	}
}

// TestParse_ImageURLErrors: a picture URL reaches every reader's message,
// so anything but a plain absolute http(s) URL is an article.Error at the
// key's line, and the article is skipped.
func TestParse_ImageURLErrors(t *testing.T) {
	long := "https://cdn.example.org/" + strings.Repeat("a", 2048)
	tests := []struct {
		name, value, want string
	}{
		{"not http", "ftp://cdn.example.org/a.png", `art.md:3: front matter: image_url: "ftp://cdn.example.org/a.png" is not an absolute http or https URL`},
		{"javascript", "javascript:alert(document.cookie)", `art.md:3: front matter: image_url: "javascript:alert(document.cookie)" is not an absolute http or https URL`},
		{"data", "\"data:image/svg+xml;base64,PHN2Zz4=\"", `art.md:3: front matter: image_url: "data:image/svg+xml;base64,PHN2Zz4=" is not an absolute http or https URL`},
		{"relative", "pics/a.png", `art.md:3: front matter: image_url: "pics/a.png" is not an absolute http or https URL`},
		{"scheme-relative", "//cdn.example.org/a.png", `art.md:3: front matter: image_url: "//cdn.example.org/a.png" is not an absolute http or https URL`},
		{"no host", "https:///a.png", `art.md:3: front matter: image_url: "https:///a.png" has no host`},
		{"password", "https://editor:hunter2@cdn.example.org/a.png", "art.md:3: front matter: image_url: \"https://editor:hunter2@cdn.example.org/a.png\" holds a user name or password"},
		{"a space", "https://cdn.example.org/a b.png", "art.md:3: front matter: image_url: \"https://cdn.example.org/a b.png\" holds a space"},
		{"an attribute break-out", `'https://cdn.example.org/a.png"onerror="alert(1)'`, `art.md:3: front matter: image_url: "https://cdn.example.org/a.png\"onerror=\"alert(1)" holds '"'`},
		{"markup", "https://cdn.example.org/<script>", `art.md:3: front matter: image_url: "https://cdn.example.org/<script>" holds '<'`},
		{"a control character", `"https://cdn.example.org/a\x01.png"`, `art.md:3: front matter: image_url: "https://cdn.example.org/a\x01.png" holds the control, space or format character U+0001`},
		{"a line break", `"https://cdn.example.org/a.png\r\nBcc: x@example.org"`, `art.md:3: front matter: image_url: "https://cdn.example.org/a.png\r\nBcc: x@example.org" holds the control, space or format character U+000D`},
		{"a bidi override", `"https://cdn.example.org/gnp.\u202eexe"`, `art.md:3: front matter: image_url: "https://cdn.example.org/gnp.\u202eexe" holds the control, space or format character U+202E`},
		{"a list", "[https://a.example/1.png, https://a.example/2.png]", "art.md:3: front matter: image_url: want a single value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "---\ntitle: T\nimage_url: " + tt.value + "\nimage_alt: x\n---\nBody.\n"
			_, err := Parse("art.md", []byte(src), Options{Images: anyImage{}})
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want an *article.Error", err, err)
			}
			if got, want := err.Error(), tt.want; !strings.HasPrefix(got, want) {
				t.Errorf("error =\n  %s\nwant it to start with\n  %s", got, want)
			}
		})
	}
	// Too long: said so, without echoing two kilobytes.
	_, err := Parse("art.md", []byte("---\ntitle: T\n\nimage_url: "+long+"\n---\nBody.\n"), Options{})
	if err == nil || !strings.HasPrefix(err.Error(), `art.md:4: front matter: image_url: "https://cdn.example.org/aaa`) ||
		!strings.Contains(err.Error(), "…\" is 2072 bytes, over the 2048-byte limit") || len(err.Error()) > 200 {
		t.Errorf("err = %v, want a short error at line 4 saying the URL is too long", err)
	}
	// Given twice, and misspelt: the usual front-matter errors.
	for src, want := range map[string]string{
		"---\nimage_url: https://a.example/1.png\nimage_url: https://a.example/2.png\n---\nBody.\n": `art.md:3: front matter: key "image_url" given twice`,
		"---\nimage_uri: https://a.example/1.png\n---\nBody.\n":                                     `art.md:2: front matter: unknown key "image_uri" (known: title, url, date, tags, image, image_url,`,
	} {
		if _, err := Parse("art.md", []byte(src), Options{}); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("err = %v, want it to start with %q", err, want)
		}
	}
}
