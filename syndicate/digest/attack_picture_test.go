package digest_test

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
)

// hostileURLs are picture URLs that must never reach an src: scripts,
// inline data, attribute and tag break-outs, credentials, spaces.
var hostileURLs = []string{
	"javascript:alert(document.cookie)",
	"JaVaScRiPt:alert(1)",
	" javascript:alert(1)",
	"java\tscript:alert(1)",
	"data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+",
	"data:text/html,<script>alert(1)</script>",
	"vbscript:msgbox(1)",
	`https://cdn.example.org/a.png" onerror="alert(1)`,
	`https://cdn.example.org/a.png"onerror="alert(1)`,
	"https://cdn.example.org/\"><script>alert(1)</script>",
	"https://cdn.example.org/a b.png",
	"https://cdn.example.org/a.png\r\nContent-Type: text/html",
	"https://reader:secret@cdn.example.org/a.png",
	"//cdn.example.org/a.png",
	"/media/a.png",
	"https://cdn.example.org/" + strings.Repeat("a", 2100),
}

// ATTACK: a picture URL from a feed, an article or a state written by
// another version reaches the HTML part. Whatever it holds, no script,
// inline data or broken-out attribute ends up in the message: the
// picture is dropped, and its caption stays as text.
func TestAttack_HostilePictureURLs(t *testing.T) {
	r := renderer(t)
	for _, u := range hostileURLs {
		t.Run(u[:min(len(u), 40)], func(t *testing.T) {
			// As recorded in the state.
			recorded := digest.Digest{Date: day, Articles: []syndicate.DigestItem{{ID: "x", Title: "T", URL: "https://news.example.org/x", ImageAlt: "alt", Image: &syndicate.DigestImage{URL: u, Alt: "alt", Width: 10, Height: 10}}}}
			// As a feed item hands it over.
			d, _ := digest.New([]*syndicate.Article{{ID: "x", Title: "T", URL: "https://news.example.org/x", Image: &syndicate.Image{URL: u, Alt: "alt"}}}, day, 0, digest.Pictures{})
			if d.Articles[0].Image != nil {
				t.Errorf("digest.New recorded the picture %q", d.Articles[0].Image.URL)
			}
			for _, dg := range []digest.Digest{recorded, d} {
				m, err := r.Render(dg, syndicate.Reader{Email: "r@example.org"}, "https://e.org/u")
				if err != nil {
					t.Fatal(err)
				}
				lower := strings.ToLower(m.HTML)
				for _, bad := range []string{"<img", "javascript:", "vbscript:", "data:", "onerror", "<script", "secret@", "zgotmplz"} {
					if strings.Contains(lower, bad) {
						t.Errorf("the HTML holds %q", bad)
					}
				}
				if !strings.Contains(m.HTML, "Photo: alt") && dg.Articles[0].ImageAlt != "" {
					t.Error("the caption went with the picture")
				}
			}
		})
	}
	// A single quote is a URL character (O'Brien.jpg): the picture is
	// shown, the quote percent-encoded inside the double-quoted src.
	d := digest.Digest{Date: day, Articles: []syndicate.DigestItem{{ID: "x", Title: "T", Image: &syndicate.DigestImage{URL: "https://cdn.example.org/a.png'onerror='alert(1)", Alt: "O'Brien"}}}}
	m, err := r.Render(d, syndicate.Reader{Email: "r@example.org"}, "https://e.org/u")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := imgTag.FindString(m.HTML), `<img src="https://cdn.example.org/a.png%27onerror=%27alert%281%29" alt="O&#39;Brien" width="536" style=`; !strings.HasPrefix(got, want) {
		t.Errorf("picture = %s, want it to start %s", got, want)
	}
}

// ATTACK: a hostile URL from a feed does not stop a picture file under
// email.media_base_url from being shown instead; a file name with quotes
// and markup is escaped segment by segment.
func TestAttack_HostileURLFallsBackToTheFile(t *testing.T) {
	dir := t.TempDir()
	name := `"><img src=x onerror=alert(1)>.png`
	writePicture(t, filepath.Join(dir, name), 100, 50)
	a := &syndicate.Article{ID: "x", Title: "T", Image: &syndicate.Image{URL: "javascript:alert(1)", Path: filepath.Join(dir, name), Alt: `"alt" <b>`}}
	d, _ := digest.New([]*syndicate.Article{a}, day, 0, digest.Pictures{BaseURL: "https://cdn.example.org/", ArticlesDir: dir})
	if d.Articles[0].Image == nil {
		t.Fatal("no picture")
	}
	if got, want := *d.Articles[0].Image, (syndicate.DigestImage{URL: "https://cdn.example.org/%22%3E%3Cimg%20src=x%20onerror=alert%281%29%3E.png", Alt: `"alt" <b>`, Width: 100, Height: 50}); got != want {
		t.Errorf("image = %+v, want %+v", got, want)
	}
	m, err := renderer(t).Render(d, syndicate.Reader{Email: "r@example.org"}, "https://e.org/u")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Count(m.HTML, "<img "), 1; got != want {
		t.Errorf("%d <img> tags, want %d", got, want)
	}
	if !strings.Contains(m.HTML, `alt="&#34;alt&#34; &lt;b&gt;"`) || strings.Contains(m.HTML, "javascript:") {
		t.Errorf("alt text not escaped, or the feed's URL used:\n%s", imgTag.FindString(m.HTML))
	}
}

// ATTACK: a picture path that leaves the articles folder — "..", a
// media_dirs folder, a path that only looks inside — is never published
// under email.media_base_url (the URL would name a file the site does not
// serve there, or reveal the layout of this machine).
func TestAttack_PicturePathLeavesTheFolder(t *testing.T) {
	base := t.TempDir()
	articles := filepath.Join(base, "articles")
	writePicture(t, filepath.Join(base, "static", "a.png"), 10, 10)
	writePicture(t, filepath.Join(base, "articles-old", "a.png"), 10, 10)
	writePicture(t, filepath.Join(articles, "sub", "ok.png"), 10, 10)
	pics := digest.Pictures{BaseURL: "https://cdn.example.org/m/", ArticlesDir: articles, MediaDirs: []string{filepath.Join(base, "static")}}
	for _, tt := range []struct{ path, want string }{
		{filepath.Join(articles, "..", "static", "a.png"), ""},
		{articles + "/../static/a.png", ""},
		{filepath.Join(base, "articles-old", "a.png"), ""},
		{filepath.Join(articles, "..", "..", "..", "etc", "passwd"), ""},
		{"/etc/passwd", ""},
		{articles, ""},
		{articles + "/sub/../sub/ok.png", "https://cdn.example.org/m/sub/ok.png"},
	} {
		d, _ := digest.New([]*syndicate.Article{{ID: "x", Title: "T", Image: &syndicate.Image{Path: tt.path}}}, day, 0, pics)
		got := ""
		if img := d.Articles[0].Image; img != nil {
			got = img.URL
		}
		if got != tt.want {
			t.Errorf("%s: picture URL %q, want %q", tt.path, got, tt.want)
		}
	}
}

// pngClaiming is a PNG header that claims w×h and holds no pixels.
func pngClaiming(w, h uint32) []byte {
	ihdr := append([]byte("IHDR"), make([]byte, 13)...)
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	copy(ihdr[12:], []byte{8, 6, 0, 0, 0})
	out := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0d"), ihdr...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(ihdr))
}

// ATTACK: a picture file that is huge, claims to be huge, is broken, is
// not a picture or is a FIFO neither hangs nor breaks the digest: its
// size is read from its header alone (no pixel is decoded) or is unknown,
// and the picture is shown at most 536 px wide.
func TestAttack_HugeOrBrokenPictureFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "claims-huge.png"), pngClaiming(1<<31-1, 1<<20))
	writeFile(t, filepath.Join(dir, "broken.png"), pngClaiming(100, 100)[:22])
	writeFile(t, filepath.Join(dir, "not-a-picture.png"), []byte("MASTODON_ACCESS_TOKEN=secret"))
	big := filepath.Join(dir, "over-16-MiB.png")
	writeFile(t, big, pngClaiming(800, 600))
	if err := os.Truncate(big, 17<<20); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.png"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		wantW       int
		wantH       int
		wantDisplay string
	}{
		{"claims-huge.png", 1<<31 - 1, 1 << 20, `width="536" height="1"`},
		{"broken.png", 0, 0, `width="536" style=`},
		{"not-a-picture.png", 0, 0, `width="536" style=`},
		{"over-16-MiB.png", 0, 0, `width="536" style=`},
		{"fifo.png", 0, 0, `width="536" style=`},
		{"missing.png", 0, 0, `width="536" style=`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &syndicate.Article{ID: "x", Title: "T", Image: &syndicate.Image{Path: filepath.Join(dir, tt.name)}}
			done := make(chan digest.Digest, 1)
			go func() {
				d, _ := digest.New([]*syndicate.Article{a}, day, 0, digest.Pictures{BaseURL: "https://cdn.example.org/", ArticlesDir: dir})
				done <- d
			}()
			var d digest.Digest
			select {
			case d = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("digest.New waited on the picture file")
			}
			img := d.Articles[0].Image
			if img == nil {
				t.Fatal("no picture: a file whose size cannot be read is still shown")
			}
			if got, want := [2]int{img.Width, img.Height}, [2]int{tt.wantW, tt.wantH}; got != want {
				t.Errorf("recorded size %v, want %v", got, want)
			}
			m, err := renderer(t).Render(d, syndicate.Reader{Email: "r@example.org"}, "https://e.org/u")
			if err != nil {
				t.Fatal(err)
			}
			if tag := imgTag.FindString(m.HTML); !strings.Contains(tag, tt.wantDisplay) {
				t.Errorf("picture = %s, want it to hold %s", tag, tt.wantDisplay)
			}
		})
	}
}

// ATTACK: a picture URL holding the fast path's own marker text would be
// cut into a reader's slot (and show one reader's address to another) if
// the skeleton were trusted; the probe sees the difference, and every
// reader still gets exactly what the templates render.
func TestAttack_PictureURLHoldsTheMarker(t *testing.T) {
	d := digest.Digest{Date: day, Articles: []syndicate.DigestItem{{ID: "x", Title: "T", Image: &syndicate.DigestImage{URL: "https://cdn.example.org/zqsyndicatemark0q.png?zqsyndicatemark2q", Width: 100, Height: 100}}}}
	r := renderer(t)
	is := r.Issue(d)
	for _, email := range []string{"ada@example.org", "grace@example.org"} {
		got, err := is.Render(syndicate.Reader{Email: email, Name: "N"}, "https://e.org/u?token="+email)
		if err != nil {
			t.Fatal(err)
		}
		want, err := r.Render(d, syndicate.Reader{Email: email, Name: "N"}, "https://e.org/u?token="+email)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: the fast path differs from the templates", email)
		}
		if !strings.Contains(got.HTML, `src="https://cdn.example.org/zqsyndicatemark0q.png?zqsyndicatemark2q"`) {
			t.Errorf("%s: the picture URL was changed: %s", email, imgTag.FindString(got.HTML))
		}
	}
}
