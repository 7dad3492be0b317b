package digest_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/article"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
	"github.com/syndicate-bot/syndicate/syndicate/internal/golden"
)

// writePicture writes a w×h picture (PNG, or GIF for a .gif name).
func writePicture(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White})
	var b bytes.Buffer
	var err error
	if strings.HasSuffix(path, ".gif") {
		err = gif.Encode(&b, img, nil)
	} else {
		err = png.Encode(&b, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, b.Bytes())
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// pictureSite is an articles folder with a picture from each source and
// articles without one, and the static folder media_dirs names.
type pictureSite struct {
	articles, static string
	list             []*syndicate.Article
}

func newPictureSite(t *testing.T) pictureSite {
	t.Helper()
	base := t.TempDir()
	s := pictureSite{articles: filepath.Join(base, "articles"), static: filepath.Join(base, "static", "images")}
	writePicture(t, filepath.Join(s.articles, "photos", "wind farm.png"), 1600, 900)
	writePicture(t, filepath.Join(s.articles, "été", "#1.gif"), 300, 200)
	writePicture(t, filepath.Join(s.static, "stadium.png"), 800, 600)
	files := map[string]string{
		// 2: front matter's image_url, with no file: its size is unknown.
		"library.md": "---\ntitle: Harbour library reopens\ndate: 2026-11-29 10:00\nimage_url: https://images.example.net/p/library%20hall.jpg?w=1200\nimage_alt: The reading room, with its new glass roof\ncredit: City archive\n---\nThe library reopened on Saturday after two years of repairs to its roof.\n",
		// 3: a file in the articles folder, under email.media_base_url.
		"wind.md": "---\ntitle: North Sea wind auction\ndate: 2026-11-29 09:00\nimage: photos/wind farm.png\nimage_alt: Turbines at sea\ncredit: Syndicate\nkey_points: [Three bidders, A record price]\n---\nBody.\n",
		// 3 again: a small picture (never enlarged) whose path needs escaping.
		"summer.md": "---\ntitle: Summer festival\ndate: 2026-11-29 08:00\nimage: \"été/#1.gif\"\nimage_alt: Dancers\n---\nBody.\n",
		// None: a caption and credit only.
		"caption.txt": "KEY POINTS\n- The mayor signed the budget at dawn\n\nThe council met all night.\n\nThe mayor signs\nThe mayor signs AFP / Someone\n",
		// None: a file from media_dirs, which media_base_url does not publish.
		"stadium.md": "---\ntitle: Stadium opens\ndate: 2026-11-28 12:00\nimage: ../static/images/stadium.png\nimage_alt: The stands\n---\nBody.\n",
	}
	for name, src := range files {
		writeFile(t, filepath.Join(s.articles, name), []byte(src))
	}
	mt := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	os.Chtimes(filepath.Join(s.articles, "caption.txt"), mt, mt)
	set, err := article.LoadDir(s.articles, article.Options{BaseURL: "https://news.example.org/articles/", Location: time.UTC, MediaDirs: []string{s.static}})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Problems) > 0 {
		t.Fatal(set.Problems)
	}
	// 1: a feed item's picture, whose size the feed said.
	feed := &syndicate.Article{ID: "wire-harbour", Source: "feed:wire", Title: "Cranes return to the harbour", URL: "https://wire.example.com/harbour",
		Date: time.Date(2026, 11, 29, 11, 0, 0, 0, time.UTC), KeyPoints: []string{"Two cranes arrived by barge"},
		Image: &syndicate.Image{URL: "https://cdn.wire.example.com/2026/11/harbour.jpg?w=1200&h=800", Alt: "Cranes over the harbour at dusk", Credit: "Wire / A. Photographer", Width: 1200, Height: 800}}
	s.list = append(set.Articles, feed)
	return s
}

func (s pictureSite) pictures() digest.Pictures {
	return digest.Pictures{BaseURL: "https://news.example.org/media", ArticlesDir: s.articles, MediaDirs: []string{s.static}}
}

var imgTag = regexp.MustCompile(`<img [^>]*>`)

// TestNew_PicturesFromEachSource: a feed's URL, front matter's image_url
// and a file under email.media_base_url each give the HTML part a
// picture, at its size scaled into the column; an article without a
// public picture gets no <img> at all, and the plain text is as before.
func TestNew_PicturesFromEachSource(t *testing.T) {
	s := newPictureSite(t)
	d, _ := digest.New(s.list, day, 0, s.pictures())
	images := map[string]*syndicate.DigestImage{}
	for _, it := range d.Articles {
		images[it.ID] = it.Image
	}
	tests := []struct {
		id   string
		want *syndicate.DigestImage
	}{
		{"wire-harbour", &syndicate.DigestImage{URL: "https://cdn.wire.example.com/2026/11/harbour.jpg?w=1200&h=800", Alt: "Cranes over the harbour at dusk", Width: 1200, Height: 800}},
		{"library", &syndicate.DigestImage{URL: "https://images.example.net/p/library%20hall.jpg?w=1200", Alt: "The reading room, with its new glass roof"}},
		{"wind", &syndicate.DigestImage{URL: "https://news.example.org/media/photos/wind%20farm.png", Alt: "Turbines at sea", Width: 1600, Height: 900}},
		{"summer", &syndicate.DigestImage{URL: "https://news.example.org/media/%C3%A9t%C3%A9/%231.gif", Alt: "Dancers", Width: 300, Height: 200}},
		{"caption", nil},
		{"stadium", nil},
	}
	for _, tt := range tests {
		got, ok := images[tt.id]
		if !ok {
			t.Errorf("%s is not in the digest", tt.id)
			continue
		}
		if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("%s: image = %+v, want %+v", tt.id, got, tt.want)
		}
	}

	m, err := renderer(t).Render(d, syndicate.Reader{Email: "ada@example.org", Name: "Ada"}, "https://news.example.org/unsubscribe?token=abc")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "digest-pictures.html", []byte(m.HTML))
	golden.Check(t, "digest-pictures.txt", []byte(m.Text))
	wantTags := []string{
		`<img src="https://cdn.wire.example.com/2026/11/harbour.jpg?w=1200&amp;h=800" alt="Cranes over the harbour at dusk" width="536" height="357" style="display:block;max-width:100%;height:auto;`,
		`<img src="https://images.example.net/p/library%20hall.jpg?w=1200" alt="The reading room, with its new glass roof" width="536" style="`,
		`<img src="https://news.example.org/media/photos/wind%20farm.png" alt="Turbines at sea" width="536" height="302" style="`,
		`<img src="https://news.example.org/media/%C3%A9t%C3%A9/%231.gif" alt="Dancers" width="300" height="200" style="`,
	}
	tags := imgTag.FindAllString(m.HTML, -1)
	if len(tags) != len(wantTags) {
		t.Fatalf("%d pictures in the HTML, want %d:\n%s", len(tags), len(wantTags), strings.Join(tags, "\n"))
	}
	for i, want := range wantTags {
		if !strings.HasPrefix(tags[i], want) {
			t.Errorf("picture %d =\n  %s\nwant it to start\n  %s", i+1, tags[i], want)
		}
	}
	for _, no := range []string{"stadium.png", "static/images", "The mayor signs\""} {
		if strings.Contains(m.HTML, no) {
			t.Errorf("the HTML holds %q: an article without a public picture got one", no)
		}
	}

	// The plain text is what it would be without the pictures.
	bare := d
	bare.Articles = append([]syndicate.DigestItem(nil), d.Articles...)
	for i := range bare.Articles {
		bare.Articles[i].Image = nil
	}
	without, err := renderer(t).Render(bare, syndicate.Reader{Email: "ada@example.org", Name: "Ada"}, "https://news.example.org/unsubscribe?token=abc")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Text, without.Text; got != want {
		t.Errorf("the pictures changed the plain text:\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(without.HTML, "<img") {
		t.Error("a digest without pictures has an <img>")
	}
}

// TestNew_PictureSurvivesTheState: the items are recorded as JSON when a
// digest starts; a resumed digest mails the same pictures, even when the
// files changed or went in between (their size was read once).
func TestNew_PictureSurvivesTheState(t *testing.T) {
	s := newPictureSite(t)
	d, _ := digest.New(s.list, day, 0, s.pictures())
	reader := syndicate.Reader{Email: "ada@example.org"}
	first, err := renderer(t).Render(d, reader, "https://e.org/u")
	if err != nil {
		t.Fatal(err)
	}
	var stored [][]byte
	for _, it := range d.Articles {
		b, err := json.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, b)
	}
	if err := os.RemoveAll(filepath.Join(s.articles, "photos")); err != nil {
		t.Fatal(err)
	}
	resumed := digest.Digest{Date: d.Date}
	for _, b := range stored {
		var it syndicate.DigestItem
		if err := json.Unmarshal(b, &it); err != nil {
			t.Fatal(err)
		}
		resumed.Articles = append(resumed.Articles, it)
	}
	again, err := renderer(t).Render(resumed, reader, "https://e.org/u")
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("the resumed digest differs:\n%s\nwant\n%s", again.HTML, first.HTML)
	}
	if got, want := string(stored[0]), `"image":{"url":"https://cdn.wire.example.com/2026/11/harbour.jpg?w=1200\u0026h=800","alt":"Cranes over the harbour at dusk","width":1200,"height":800}`; !strings.Contains(got, want) {
		t.Errorf("recorded item = %s, want it to hold %s", got, want)
	}
	if strings.Contains(string(stored[len(stored)-1]), `"image"`) {
		t.Errorf("an item without a picture records one: %s", stored[len(stored)-1])
	}
}

// TestNew_PicturesWithoutABaseURL: with no email.media_base_url only the
// pictures with a URL of their own are shown.
func TestNew_PicturesWithoutABaseURL(t *testing.T) {
	s := newPictureSite(t)
	p := s.pictures()
	p.BaseURL = ""
	d, _ := digest.New(s.list, day, 0, p)
	var with []string
	for _, it := range d.Articles {
		if it.Image != nil {
			with = append(with, it.ID)
		}
	}
	if got, want := strings.Join(with, ","), "wire-harbour,library"; got != want {
		t.Errorf("articles with a picture = %s, want %s", got, want)
	}
	// Item, the one-article form, reads no file and knows no base URL.
	for _, a := range s.list {
		if it := digest.Item(a); it.Image != nil && a.ID != "wire-harbour" && a.ID != "library" {
			t.Errorf("Item(%s) has a picture: %+v", a.ID, it.Image)
		}
	}
}

// TestIssue_PicturesOnTheFastPath: pictures are the same for every
// reader, so the per-shape rendering keeps them and matches the
// templates byte for byte.
func TestIssue_PicturesOnTheFastPath(t *testing.T) {
	s := newPictureSite(t)
	d, _ := digest.New(s.list, day, 0, s.pictures())
	r := renderer(t)
	is := r.Issue(d)
	for _, rd := range []syndicate.Reader{{Email: "ada@example.org", Name: "Ada"}, {Email: "o'neil+x@example.org", Name: `Zoë "Z" <b>&`}, {Email: "p@example.org"}} {
		got, err := is.Render(rd, "https://e.org/u?token="+rd.Email)
		if err != nil {
			t.Fatal(err)
		}
		want, err := r.Render(d, rd, "https://e.org/u?token="+rd.Email)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: the fast path differs from the templates", rd.Email)
		}
		if n := strings.Count(got.HTML, "<img "); n != 4 {
			t.Errorf("%s: %d pictures, want 4", rd.Email, n)
		}
	}
	if is.Exact() {
		t.Error("pictures made every reader render exactly")
	}
}
