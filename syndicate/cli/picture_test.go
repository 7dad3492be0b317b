package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withMediaBaseURL turns on the shipped config's commented
// email.media_base_url with the given value.
func withMediaBaseURL(base string) func(string) string {
	return func(cfg string) string {
		return strings.Replace(cfg, "  # media_base_url: https://news.example.org/media/", "  media_base_url: "+base, 1)
	}
}

// TestDigestDryRun_Picture: with email.media_base_url set, the shipped
// article with a picture file shows it in the HTML part, at its size (640
// × 360, read from the file) scaled into the column; the others show
// none, nothing is attached, and the plain text is as without it.
func TestDigestDryRun_Picture(t *testing.T) {
	cfg := workspace(t, withMediaBaseURL("https://news.example.org/media/"))
	r := run(t, nil, "--config", cfg, "digest", "--dry-run", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var doc struct {
		Articles []struct {
			ID    string
			Image *struct {
				URL           string
				Alt           string
				Width, Height int
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	for _, a := range doc.Articles {
		switch {
		case a.ID == "north-sea-wind-auction":
			if a.Image == nil || a.Image.URL != "https://news.example.org/media/offshore-wind.png" || a.Image.Width != 640 || a.Image.Height != 360 ||
				!strings.HasPrefix(a.Image.Alt, "Three white wind turbines") {
				t.Errorf("%s: image = %+v", a.ID, a.Image)
			}
		case a.Image != nil:
			t.Errorf("%s has a picture: %+v", a.ID, a.Image)
		}
	}

	out := filepath.Join(t.TempDir(), "out")
	if r := run(t, nil, "--config", cfg, "digest", "--dry-run", "--out", out); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	html, _ := os.ReadFile(filepath.Join(out, "digest.html"))
	eml, _ := os.ReadFile(filepath.Join(out, "digest.eml"))
	txt, _ := os.ReadFile(filepath.Join(out, "digest.txt"))
	const tag = `<img src="https://news.example.org/media/offshore-wind.png" alt="Three white wind turbines standing in a calm blue sea under a clear sky" width="536" height="302" style="display:block;max-width:100%;height:auto;`
	if strings.Count(string(html), "<img ") != 1 || !strings.Contains(string(html), tag) {
		t.Errorf("digest.html lacks the one picture %s", tag)
	}
	if strings.Contains(string(eml), "image/png") || strings.Contains(string(eml), "Content-Disposition") || strings.Count(string(eml), "Content-Type:") != 3 {
		t.Error("digest.eml attaches something: want text/plain and text/html parts only")
	}

	plain := workspace(t, nil)
	outPlain := filepath.Join(t.TempDir(), "out")
	if r := run(t, nil, "--config", plain, "digest", "--dry-run", "--out", outPlain); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	txtPlain, _ := os.ReadFile(filepath.Join(outPlain, "digest.txt"))
	htmlPlain, _ := os.ReadFile(filepath.Join(outPlain, "digest.html"))
	if string(txt) != string(txtPlain) {
		t.Error("email.media_base_url changed the plain text")
	}
	if strings.Contains(string(htmlPlain), "<img") {
		t.Error("without email.media_base_url the shipped articles show a picture")
	}
}

// TestCheck_BadMediaBaseURL: a bad email.media_base_url stops the run
// with exit 2, naming the key and file:line.
func TestCheck_BadMediaBaseURL(t *testing.T) {
	cfg := workspace(t, withMediaBaseURL("http://news.example.org/media/"))
	r := run(t, nil, "--config", cfg, "check")
	b, _ := os.ReadFile(cfg)
	line := 1 + strings.Count(string(b[:strings.Index(string(b), "media_base_url:")]), "\n")
	want := fmt.Sprintf("config.yaml:%d: email.media_base_url: must be https", line)
	if r.code != 2 || !strings.Contains(r.stderr, want) {
		t.Errorf("exit %d, stderr %q: want 2 and %q", r.code, r.stderr, want)
	}
}
