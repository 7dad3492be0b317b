package syndicate_test

import (
	"strings"
	"testing"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// TestCheckImageURL: only an absolute http(s) URL with a host, no
// credentials, nothing that could break out of an attribute or hide in a
// message, and at most 2048 bytes, is a picture URL.
func TestCheckImageURL(t *testing.T) {
	long := "https://cdn.example.org/" + strings.Repeat("a", syndicate.MaxImageURLLength-len("https://cdn.example.org/"))
	tests := []struct {
		url  string
		want string // "" for none; else a part of the error
	}{
		{"https://cdn.example.org/2026/wind.png", ""},
		{"http://cdn.example.org/wind.png?w=600&h=400#x", ""},
		{"https://cdn.example.org/caf%C3%A9%20au%20lait.jpg", ""},
		{"https://例え.jp/写真.jpg", ""},
		{"HTTPS://CDN.EXAMPLE.ORG/A.PNG", ""},
		{long, ""},
		{long + "a", "over the 2048-byte limit"},
		{"javascript:alert(1)", "not an absolute http or https URL"},
		{"JavaScript:alert(1)//https://x", "not an absolute http or https URL"},
		{"data:image/png;base64,iVBORw0KGgo=", "not an absolute http or https URL"},
		{"vbscript:msgbox", "not an absolute http or https URL"},
		{"ftp://cdn.example.org/a.png", "not an absolute http or https URL"},
		{"//cdn.example.org/a.png", "not an absolute http or https URL"},
		{"/media/a.png", "not an absolute http or https URL"},
		{"wind.png", "not an absolute http or https URL"},
		{"https:wind.png", "has no host"},
		{"https:///wind.png", "has no host"},
		{"https://:443/wind.png", "has no host"},
		{"https://user:secret@cdn.example.org/a.png", "user name or password"},
		{"https://user@cdn.example.org/a.png", "user name or password"},
		{"https://cdn.example.org/a b.png", "holds a space"},
		{" javascript:alert(1)", "holds a space"},
		{"https://cdn.example.org/a.png\" onerror=\"alert(1)", `holds '"'`},
		{"https://cdn.example.org/a.png\"onerror=\"alert(1)", `holds '"'`},
		{"https://cdn.example.org/<script>.png", `holds '<'`},
		{"https://cdn.example.org/a.png>", `holds '>'`},
		{"https://cdn.example.org/a\\b.png", `holds '\\'`},
		{"https://cdn.example.org/a`b.png", "holds '`'"},
		{"https://cdn.example.org/a.png\r\nBcc: all@example.org", "U+000D"},
		{"https://cdn.example.org/a\x00.png", "U+0000"},
		{"https://cdn.example.org/a\x7f.png", "U+007F"},
		{"https://cdn.example.org/a\u0085.png", "U+0085"},
		{"https://cdn.example.org/a\u00a0.png", "U+00A0"},
		{"https://cdn.example.org/a\u2028.png", "U+2028"},
		{"https://cdn.example.org/gnp.\u202eevil", "U+202E"},
		{"https://cdn.example.org/a\u200b.png", "U+200B"},
		{"https://cdn.example.org/%zz.png", "is not a URL"},
		{"", "not an absolute http or https URL"},
	}
	for _, tt := range tests {
		err := syndicate.CheckImageURL(tt.url)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckImageURL(%q) = %v, want nil", tt.url, err)
		case tt.want != "" && err == nil:
			t.Errorf("CheckImageURL(%q) = nil, want an error saying %q", tt.url, tt.want)
		case tt.want != "" && !strings.Contains(err.Error(), tt.want):
			t.Errorf("CheckImageURL(%q) = %q, want it to say %q", tt.url, err, tt.want)
		}
	}
}
