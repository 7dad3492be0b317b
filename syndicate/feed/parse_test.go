package feed

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/internal/golden"
)

var seenAt = time.Date(2026, 5, 2, 12, 0, 0, 0, time.UTC)

func firstSeenFixed(string) time.Time { return seenAt }

// fixtureModTime is the Last-Modified the fixture server gives every file.
var fixtureModTime = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// fixtureServer serves testdata/ as a feed host would: with an ETag and a
// Last-Modified, answering conditional requests with 304 (http.ServeContent).
func fixtureServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := filepath.Base(r.URL.Path)
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", fmt.Sprintf(`"%x"`, len(data)*7919+int(data[0])))
		switch filepath.Ext(name) {
		case ".json":
			w.Header().Set("Content-Type", "application/feed+json")
		case ".html":
			w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		default:
			w.Header().Set("Content-Type", "application/rss+xml; charset=UTF-8")
		}
		http.ServeContent(w, r, name, fixtureModTime, strings.NewReader(string(data)))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// dump writes a parsed feed as the golden files hold it.
func dump(f *Feed, serverURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "feed: %q\nlink: %q\nlang: %q\n", f.Title, f.Link, f.Lang)
	for _, p := range f.Problems {
		fmt.Fprintf(&b, "problem: %s\n", p)
	}
	for i, a := range f.Items {
		fmt.Fprintf(&b, "\n--- item %d\n", i+1)
		fmt.Fprintf(&b, "ID:      %s\nSource:  %s\nPath:    %s\n", a.ID, a.Source, a.Path)
		fmt.Fprintf(&b, "Title:   %q\nURL:     %q\n", a.Title, a.URL)
		fmt.Fprintf(&b, "Date:    %s\nModTime: %s\n", a.Date.UTC().Format(time.RFC3339), a.ModTime.UTC().Format(time.RFC3339))
		fmt.Fprintf(&b, "Lang:    %q\nTags:    %q\nHash:    %s\n", a.Lang, a.Tags, a.Hash)
		if a.Image != nil {
			fmt.Fprintf(&b, "Image:   %q alt=%q credit=%q\n", a.Image.URL, a.Image.Alt, a.Image.Credit)
		}
		for _, k := range a.KeyPoints {
			fmt.Fprintf(&b, "point:   %q\n", k)
		}
		for _, p := range a.Body {
			fmt.Fprintf(&b, "body:    %q\n", p)
		}
	}
	return strings.ReplaceAll(b.String(), serverURL, "http://feeds.test")
}

// TestParse_Fixtures fetches every fixture from a real HTTP server, parses
// it, compares the articles with testdata/<fixture>.golden, and fetches it
// again with the answer's Cache to get a 304.
func TestParse_Fixtures(t *testing.T) {
	srv := fixtureServer(t)
	tests := []struct {
		file string
		cfg  Config
	}{
		{"wordpress.xml", Config{Name: "gazette", Tags: []string{"Harbour", "news"}, Lang: "en"}},
		{"ghost.xml", Config{Name: "northsea", Lang: "en"}},
		{"substack.xml", Config{Name: "budgetdesk"}},
		{"hugo.xml", Config{Name: "quaystreet", Lang: "en"}},
		{"jekyll-atom.xml", Config{Name: "lighthouse"}},
		{"json-plaintext.json", Config{Name: "wire"}},
		{"gofeed-rss20-suspilne.xml", Config{Name: "suspilne", Lang: "uk"}},
		{"gofeed-rss20-extensions.xml", Config{}}, // named by its host
		{"gofeed-atom10-content-types.xml", Config{Name: "atom-types"}},
		{"gofeed-rss10-rdf-item-link.xml", Config{Name: "rdf"}},
		{"gofeed-rss091-content-image.xml", Config{Name: "rss091"}},
		{"gofeed-json10.json", Config{Name: "json10"}},
		{"gofeed-json11.json", Config{Name: "json11"}},
		{"bad-dates.xml", Config{Name: "dates"}},
		{"bad-identity.xml", Config{Name: "identity"}},
	}
	f := &Fetcher{}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cfg := tt.cfg
			cfg.URL = srv.URL + "/" + tt.file
			resp, err := f.Fetch(context.Background(), cfg.URL, Cache{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := resp.Status, 200; got != want {
				t.Fatalf("status %d, want %d", got, want)
			}
			if resp.Cache.ETag == "" || resp.Cache.LastModified != fixtureModTime.Format(http.TimeFormat) {
				t.Errorf("cache %+v: want the ETag and Last-Modified", resp.Cache)
			}
			parsed, err := Parse(cfg, resp.Body, ParseOptions{FirstSeen: firstSeenFixed})
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, cfg, parsed)
			golden.Check(t, strings.TrimSuffix(tt.file, filepath.Ext(tt.file))+".golden", []byte(dump(parsed, srv.URL)))

			again, err := f.Fetch(context.Background(), cfg.URL, resp.Cache)
			if err != nil {
				t.Fatal(err)
			}
			if !again.NotModified || again.Body != nil || again.Status != http.StatusNotModified {
				t.Errorf("second fetch: NotModified %v, status %d, %d bytes; want a 304 without a body", again.NotModified, again.Status, len(again.Body))
			}
			if again.Cache != resp.Cache {
				t.Errorf("second fetch: cache %+v, want %+v kept", again.Cache, resp.Cache)
			}
		})
	}
}

// checkInvariants holds for every article of every feed (and the fuzzer).
func checkInvariants(t *testing.T, cfg Config, f *Feed) {
	t.Helper()
	name, err := cfg.FeedName()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, a := range f.Items {
		if !strings.HasPrefix(a.ID, name+"-") || len(a.ID) != len(name)+13 {
			t.Errorf("ID %q: want %q and 12 hex digits", a.ID, name+"-")
		}
		if ids[a.ID] {
			t.Errorf("ID %q twice", a.ID)
		}
		ids[a.ID] = true
		if a.Title == "" {
			t.Errorf("%s: no title", a.ID)
		}
		if a.Source != "feed:"+name || a.Path != "feed:"+name+"/"+a.ID {
			t.Errorf("%s: source %q, path %q", a.ID, a.Source, a.Path)
		}
		if a.URL != "" && !strings.HasPrefix(a.URL, "http://") && !strings.HasPrefix(a.URL, "https://") {
			t.Errorf("%s: link %q is not http(s)", a.ID, a.URL)
		}
		if a.Hash == "" || a.ModTime.IsZero() || a.Date.IsZero() {
			t.Errorf("%s: hash %q, mod time %v, date %v", a.ID, a.Hash, a.ModTime, a.Date)
		}
		texts := append(append(append([]string{a.Title, a.Lang}, a.Tags...), a.KeyPoints...), a.Body...)
		if a.Image != nil {
			texts = append(texts, a.Image.Alt, a.Image.Credit)
			if !strings.HasPrefix(a.Image.URL, "http://") && !strings.HasPrefix(a.Image.URL, "https://") {
				t.Errorf("%s: picture %q is not http(s)", a.ID, a.Image.URL)
			}
		}
		for _, s := range texts {
			if s != clean(s) {
				t.Errorf("%s: text %q is not normalised", a.ID, s)
			}
		}
		for _, s := range append(append([]string{}, a.KeyPoints...), a.Body...) {
			if s == "" {
				t.Errorf("%s: an empty paragraph or key point", a.ID)
			}
		}
	}
	for _, p := range f.Problems {
		var ie *ItemError
		if !errors.As(p, &ie) {
			t.Errorf("problem %v is not an *ItemError", p)
		}
	}
}

// TestParse_NotAFeed covers bodies that give no articles at all.
func TestParse_NotAFeed(t *testing.T) {
	wordpress, err := os.ReadFile("testdata/wordpress.xml")
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile("testdata/bad-html-page.html")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		body string
		want string
	}{
		{"html page naming its feed", string(page), "not a feed: the server sent an HTML page (the page names a feed at https://harbourgazette.example/feed/: use that URL)"},
		{"bare html page", "<!doctype html><title>Hi</title><p>Welcome", "not a feed: the server sent an HTML page"},
		{"html page without doctype", "\n  <html><body>hello</body></html>", "not a feed: the server sent an HTML page"},
		{"xhtml page", `<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>`, "not a feed: the server sent an HTML page"},
		{"truncated XML", string(wordpress[:len(wordpress)/2]), "not a feed: broken XML (XML syntax error on line"},
		{"truncated JSON", `{"version":"https://jsonfeed.org/version/1.1","items":[{"id":"1","title":"x"`, "not a feed: broken JSON"},
		{"JSON that is not a feed", `{"error":"not found"}`, "not a feed: a JSON document that is not a JSON Feed"},
		{"plain text", "Service temporarily unavailable", "not a feed: neither RSS, Atom nor JSON Feed"},
		{"empty", " \n\t", "not a feed: the body is empty"},
		{"other XML", `<?xml version="1.0"?><sitemap><url/></sitemap>`, "not a feed: neither RSS, Atom nor JSON Feed"},
		{"binary", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a feed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(Config{URL: "https://harbourgazette.example/", Name: "x"}, []byte(tt.body), ParseOptions{FirstSeen: firstSeenFixed})
			if err == nil {
				t.Fatalf("no error; %d articles", len(f.Items))
			}
			if !errors.Is(err, ErrNotFeed) {
				t.Errorf("error %v does not wrap ErrNotFeed", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nwant it to start\n  %s", err, tt.want)
			}
		})
	}

	t.Run("over 10 MiB", func(t *testing.T) {
		big := make([]byte, MaxFeedSize+1)
		_, err := Parse(Config{URL: "https://x.example/", Name: "x"}, big, ParseOptions{})
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("error %v, want ErrTooLarge", err)
		}
	})
	t.Run("bad name", func(t *testing.T) {
		_, err := Parse(Config{URL: "https://x.example/", Name: "my feed/1"}, wordpress, ParseOptions{})
		if err == nil || !strings.Contains(err.Error(), "letters, digits") {
			t.Errorf("error %v, want the name refused", err)
		}
	})
}

// rss wraps items in an RSS 2.0 channel with the namespaces feeds use.
func rssFeed(channelExtra, items string) []byte {
	return []byte(`<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:media="http://search.yahoo.com/mrss/" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title>` + channelExtra + items + `</channel></rss>`)
}

func parseOne(t *testing.T, cfg Config, body []byte) (*syndicate.Article, []error) {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = "https://site.example/feed.xml"
	}
	if cfg.Name == "" {
		cfg.Name = "site"
	}
	f, err := Parse(cfg, body, ParseOptions{FirstSeen: firstSeenFixed})
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, cfg, f)
	if len(f.Items) != 1 {
		t.Fatalf("%d articles, want 1 (problems: %v)", len(f.Items), f.Problems)
	}
	return f.Items[0], f.Problems
}

func TestParse_KeyPoints(t *testing.T) {
	tests := []struct {
		name    string
		content string
		points  []string
		body    []string
	}{
		{"h2", `<p>Intro.</p><h2>Key points</h2><ul><li>One.</li><li>Two.</li></ul><p>After.</p>`, []string{"One.", "Two."}, []string{"Intro.", "After."}},
		{"h3 upper case with colon", `<h3>KEY POINTS:</h3><ol><li>One.</li></ol><p>After.</p>`, []string{"One."}, []string{"After."}},
		{"p strong", `<p><strong>Key Points</strong></p><ul><li>One <em>really</em>.</li></ul>`, []string{"One really."}, nil},
		{"p with colon", `<p>Key points:</p><ul><li>One.</li></ul><p>Body.</p>`, []string{"One."}, []string{"Body."}},
		{"a nested list continues its point", `<h2>Key points</h2><ul><li>One.<ul><li>Detail.</li></ul></li><li>Two.</li></ul><ul><li>Another list.</li></ul>`, []string{"One. Detail.", "Two."}, []string{"Another list."}},
		{"heading without a list", `<h2>Key points</h2><p>Just text.</p>`, nil, []string{"Key points", "Just text."}},
		{"a list without the heading", `<p>Intro.</p><ul><li>One.</li></ul>`, nil, []string{"Intro.", "One."}},
		{"other heading", `<h2>Key pointers</h2><ul><li>One.</li></ul>`, nil, []string{"Key pointers", "One."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := parseOne(t, Config{}, rssFeed("", `<item><title>X</title><guid>g</guid><content:encoded><![CDATA[`+tt.content+`]]></content:encoded></item>`))
			if got, want := a.KeyPoints, tt.points; !reflect.DeepEqual(got, want) {
				t.Errorf("key points %q, want %q", got, want)
			}
			if got, want := a.Body, tt.body; !reflect.DeepEqual(got, want) {
				t.Errorf("body %q, want %q", got, want)
			}
		})
	}
}

func TestParse_Image(t *testing.T) {
	tests := []struct {
		name string
		item string
		want *syndicate.Image
	}{
		{"media:content before all", `<media:thumbnail url="https://i.example/t.jpg"/><enclosure url="https://i.example/e.jpg" type="image/jpeg" length="0"/><media:content url="https://i.example/m.jpg" medium="image"><media:description>Alt</media:description><media:credit>AFP</media:credit></media:content><content:encoded><![CDATA[<img src="https://i.example/c.jpg" alt="c">]]></content:encoded>`,
			&syndicate.Image{URL: "https://i.example/m.jpg", Alt: "Alt", Credit: "AFP"}},
		{"media:content inside media:group", `<media:group><media:content url="https://i.example/v.mp4" medium="video"/><media:content url="https://i.example/g.png" type="image/png"/></media:group>`,
			&syndicate.Image{URL: "https://i.example/g.png"}},
		{"a video media:content is no picture", `<media:content url="https://i.example/v.mp4" medium="video"/><media:thumbnail url="https://i.example/t.jpg"/>`,
			&syndicate.Image{URL: "https://i.example/t.jpg"}},
		{"thumbnail, alt from the item's media:description", `<media:description>Item alt</media:description><media:thumbnail url="https://i.example/t.jpg"/>`,
			&syndicate.Image{URL: "https://i.example/t.jpg", Alt: "Item alt"}},
		{"image enclosure", `<enclosure url="https://i.example/a.mp3" type="audio/mpeg" length="1"/><enclosure url="https://i.example/e.jpg" type="image/jpeg" length="0"/>`,
			&syndicate.Image{URL: "https://i.example/e.jpg"}},
		{"media:content takes the content's alt for the same picture", `<media:content url="https://i.example/m.jpg" medium="image"/><content:encoded><![CDATA[<p>x</p><img src="https://i.example/m.jpg" alt="From the img">]]></content:encoded>`,
			&syndicate.Image{URL: "https://i.example/m.jpg", Alt: "From the img"}},
		{"first img, pixels and data URIs skipped, relative resolved", `<link>https://site.example/posts/a/</link><content:encoded><![CDATA[<img src="https://track.example/p.gif" width="1" height="1"><img src="data:image/png;base64,AAAA"><img src="../b.png" alt="B &amp; c">]]></content:encoded>`,
			&syndicate.Image{URL: "https://site.example/posts/b.png", Alt: "B & c"}},
		{"figcaption when no alt", `<content:encoded><![CDATA[<figure><img src="https://i.example/f.jpg" alt=""><figcaption>The <b>caption</b></figcaption></figure><p>Text.</p>]]></content:encoded>`,
			&syndicate.Image{URL: "https://i.example/f.jpg", Alt: "The caption"}},
		{"img in the description when the content has none", `<description><![CDATA[<img src="https://i.example/d.jpg">]]></description><content:encoded><![CDATA[<p>Text.</p>]]></content:encoded>`,
			&syndicate.Image{URL: "https://i.example/d.jpg"}},
		{"no picture", `<description>Text.</description>`, nil},
		{"not http", `<media:content url="file:///etc/passwd" medium="image"/><content:encoded><![CDATA[<img src="javascript:x">]]></content:encoded>`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := parseOne(t, Config{}, rssFeed("", `<item><title>X</title><guid>g</guid>`+tt.item+`</item>`))
			if got, want := a.Image, tt.want; !reflect.DeepEqual(got, want) {
				t.Errorf("image %+v, want %+v", got, want)
			}
		})
	}
}

func TestParse_Fields(t *testing.T) {
	t.Run("ID from GUID, else link", func(t *testing.T) {
		a, _ := parseOne(t, Config{}, rssFeed("", `<item><title>X</title><guid>g-1</guid><link>https://site.example/a</link></item>`))
		b, _ := parseOne(t, Config{}, rssFeed("", `<item><title>Y</title><guid> g-1 </guid><link>https://site.example/b</link></item>`))
		c, _ := parseOne(t, Config{}, rssFeed("", `<item><title>X</title><link>https://site.example/a</link></item>`))
		if a.ID != b.ID {
			t.Errorf("same GUID, IDs %q and %q", a.ID, b.ID)
		}
		if a.ID == c.ID {
			t.Errorf("GUID and link gave the same ID %q", a.ID)
		}
		if got, want := a.ID, "site-"+shortHash("g-1"); got != want {
			t.Errorf("ID %q, want %q", got, want)
		}
		if got, want := c.ID, "site-"+shortHash("https://site.example/a"); got != want {
			t.Errorf("ID %q, want %q", got, want)
		}
	})
	t.Run("title as HTML", func(t *testing.T) {
		a, _ := parseOne(t, Config{}, rssFeed("", `<item><title>Tom &amp;amp; Jerry &lt;b&gt;bold&lt;/b&gt;  now</title><guid>g</guid></item>`))
		if got, want := a.Title, "Tom & Jerry bold now"; got != want {
			t.Errorf("title %q, want %q", got, want)
		}
		// XML cannot carry an escape character; JSON can.
		a, _ = parseOne(t, Config{}, []byte(`{"version":"https://jsonfeed.org/version/1.1","items":[{"id":"1","title":"Clear \u001b[2J the\u2028screen\u0085 \u202eevil"}]}`))
		if got, want := a.Title, "Clear [2J the screen \u202eevil"; got != want {
			t.Errorf("title %q, want %q", got, want)
		}
	})
	t.Run("title from the first key point", func(t *testing.T) {
		a, _ := parseOne(t, Config{}, rssFeed("", `<item><guid>g</guid><content:encoded><![CDATA[<h2>Key points</h2><ul><li>First.</li><li>Second.</li></ul>]]></content:encoded></item>`))
		if a.Title != "First." || !reflect.DeepEqual(a.KeyPoints, []string{"Second."}) {
			t.Errorf("title %q, key points %q", a.Title, a.KeyPoints)
		}
	})
	t.Run("tags", func(t *testing.T) {
		a, _ := parseOne(t, Config{Tags: []string{"news", " Climate "}}, rssFeed("", `<item><title>X</title><guid>g</guid><category>Climate</category><category>Uncategorized</category><category><![CDATA[Sea &amp; shore]]></category><category>climate</category></item>`))
		if got, want := a.Tags, []string{"Climate", "Sea & shore", "news"}; !reflect.DeepEqual(got, want) {
			t.Errorf("tags %q, want %q", got, want)
		}
	})
	t.Run("lang", func(t *testing.T) {
		tests := []struct {
			channel, item, cfg, want string
		}{
			{"", "", "en", "en"},
			{"<language>de-DE</language>", "", "en", "de-DE"},
			{"<language>de-DE</language>", "<dc:language>fr</dc:language>", "en", "fr"},
			{"<language>German</language>", "", "en", "en"},
			{"", "", "", ""},
			{"<language>EN-us</language>", "", "", "en-US"},
			{"", "", "pt_br", "pt-BR"},
		}
		for _, tt := range tests {
			a, _ := parseOne(t, Config{Lang: tt.cfg}, rssFeed(tt.channel, `<item><title>X</title><guid>g</guid>`+tt.item+`</item>`))
			if a.Lang != tt.want {
				t.Errorf("channel %q item %q config %q: lang %q, want %q", tt.channel, tt.item, tt.cfg, a.Lang, tt.want)
			}
		}
	})
	t.Run("date: published, updated, first seen", func(t *testing.T) {
		published := `<item><title>X</title><guid>g</guid><pubDate>Fri, 01 May 2026 10:00:00 +0200</pubDate><dc:date>2026-05-03T00:00:00Z</dc:date></item>`
		a, probs := parseOne(t, Config{}, rssFeed("", published))
		if want := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC); !a.Date.Equal(want) || len(probs) > 0 {
			t.Errorf("date %v (problems %v), want %v", a.Date, probs, want)
		}
		atomFeed := `<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>e</id><title>X</title><updated>2026-05-03T00:00:00Z</updated></entry></feed>`
		a, _ = parseOne(t, Config{}, []byte(atomFeed))
		if want := time.Date(2026, 5, 3, 0, 0, 0, 0, time.UTC); !a.Date.Equal(want) {
			t.Errorf("date %v, want the updated date %v", a.Date, want)
		}
		a, probs = parseOne(t, Config{}, rssFeed("", `<item><title>X</title><guid>g</guid><pubDate>31/31/2026</pubDate></item>`))
		if !a.Date.Equal(seenAt) || !a.ModTime.Equal(seenAt) || len(probs) != 1 || !strings.Contains(probs[0].Error(), `date "31/31/2026" is not a date it can use`) {
			t.Errorf("date %v, problems %v: want the first-seen time and one problem", a.Date, probs)
		}
		if ie := probs[0].(*ItemError); ie.Skipped {
			t.Errorf("an item with a bad date was skipped")
		}
	})
	t.Run("first seen per ID", func(t *testing.T) {
		var asked []string
		items := `<item><title>X</title><guid>a</guid></item><item><title>X again</title><guid>a</guid></item><item><guid>empty</guid></item><item><title>Y</title><guid>b</guid></item>`
		f, err := Parse(Config{URL: "https://site.example/feed", Name: "site"}, rssFeed("", items), ParseOptions{FirstSeen: func(id string) time.Time {
			asked = append(asked, id)
			return seenAt.Add(time.Duration(len(asked)) * time.Hour)
		}})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(asked, []string{"site-" + shortHash("a"), "site-" + shortHash("b")}) {
			t.Errorf("asked for %q", asked)
		}
		if !f.Items[1].ModTime.Equal(seenAt.Add(2 * time.Hour)) {
			t.Errorf("mod time %v", f.Items[1].ModTime)
		}
	})
	t.Run("hash follows the content, not the date or config", func(t *testing.T) {
		item := func(title, date string) []byte {
			return rssFeed("", `<item><title>`+title+`</title><guid>g</guid><pubDate>`+date+`</pubDate><description>Body.</description></item>`)
		}
		a, _ := parseOne(t, Config{}, item("X", "Fri, 01 May 2026 10:00:00 +0200"))
		b, _ := parseOne(t, Config{Tags: []string{"more"}, Lang: "de"}, item("X", "Sat, 02 May 2026 10:00:00 +0200"))
		c, _ := parseOne(t, Config{}, item("X, edited", "Fri, 01 May 2026 10:00:00 +0200"))
		d, _ := parseOne(t, Config{}, item("  X ", "Fri, 01 May 2026 10:00:00 +0200"))
		if a.Hash != b.Hash || a.Hash != d.Hash {
			t.Errorf("hashes %s, %s, %s: want one", a.Hash, b.Hash, d.Hash)
		}
		if a.Hash == c.Hash {
			t.Errorf("an edited title kept the hash %s", a.Hash)
		}
	})
	t.Run("relative link against the site", func(t *testing.T) {
		a, _ := parseOne(t, Config{}, rssFeed("<link>https://www.site.example/blog/</link>", `<item><title>X</title><link>/posts/x/</link></item>`))
		if got, want := a.URL, "https://www.site.example/posts/x/"; got != want {
			t.Errorf("link %q, want %q", got, want)
		}
	})
	t.Run("atom text content is not HTML", func(t *testing.T) {
		a, _ := parseOne(t, Config{}, []byte(`<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>e</id><title>X</title><content type="text">a &lt;b&gt; c</content></entry></feed>`))
		if got, want := a.Body, []string{"a <b> c"}; !reflect.DeepEqual(got, want) {
			t.Errorf("body %q, want %q", got, want)
		}
	})
	t.Run("item over 1 MiB of text", func(t *testing.T) {
		big := strings.Repeat("<p>"+strings.Repeat("word ", 200)+"</p>", 1100)
		f, err := Parse(Config{URL: "https://site.example/", Name: "site"}, rssFeed("", `<item><title>X</title><guid>g</guid><content:encoded><![CDATA[`+big+`]]></content:encoded></item>`), ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Items) != 0 || len(f.Problems) != 1 || !strings.Contains(f.Problems[0].Error(), "over the 1 MiB limit") {
			t.Errorf("%d articles, problems %v", len(f.Items), f.Problems)
		}
	})
	t.Run("at most MaxItems", func(t *testing.T) {
		var items strings.Builder
		for i := range MaxItems + 5 {
			fmt.Fprintf(&items, "<item><title>T%d</title><guid>g%d</guid></item>", i, i)
		}
		f, err := Parse(Config{URL: "https://site.example/", Name: "site"}, rssFeed("", items.String()), ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Items) != MaxItems || len(f.Problems) != 1 || !strings.Contains(f.Problems[0].Error(), "only the first 1000") {
			t.Errorf("%d articles, problems %v", len(f.Items), f.Problems)
		}
	})
}

func TestHTMLToParagraphs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"<p>One</p><p>Two</p>", []string{"One", "Two"}},
		{"Plain text", []string{"Plain text"}},
		{"line one<br>line two<br><br>next paragraph", []string{"line one line two", "next paragraph"}},
		{"<div>a<div>b</div>c</div>", []string{"a", "b", "c"}},
		{"<p>x&nbsp;&nbsp;y &amp; z &#8220;q&#8221;</p>", []string{"x y & z \u201cq\u201d"}},
		{"<p>Cafe\u0301</p>", []string{"Caf\u00e9"}},
		{"<script>alert(1)</script><style>p{}</style><p>kept</p><noscript>no</noscript>", []string{"kept"}},
		{"<video>Your browser does not support video.</video><iframe src=x></iframe><p>t</p>", []string{"t"}},
		{"<form><input value=Subscribe><button>Subscribe</button></form><p>t</p>", []string{"t"}},
		{"<h2>Head</h2>text after", []string{"Head", "text after"}},
		{"<ul><li>a</li><li>b</li></ul>", []string{"a", "b"}},
		{"<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", []string{"a b", "c"}},
		{"<figure><img src=x><figcaption>Caption</figcaption></figure><p>t</p>", []string{"t"}},
		{"<p>bad \x1b[31m escape \u0085 and \xff byte</p>", []string{"bad [31m escape and \ufffd byte"}},
		{"<p>unclosed <b>bold <i>italic", []string{"unclosed bold italic"}},
		{"</li></ul></figure></figcaption></h2>stray ends", []string{"stray ends"}},
		{"", []string{}},
	}
	for _, tt := range tests {
		if got := HTMLToParagraphs(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("HTMLToParagraphs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	t.Run("nesting deeper than the tree builder takes", func(t *testing.T) {
		deep := "<p>before</p>" + strings.Repeat("<div><ul><li>", 40000) + "deep<script>x</script>" + strings.Repeat("</li></ul></div>", 40000) + "<p>after<br><br>more</p>"
		if got, want := HTMLToParagraphs(deep), []string{"before", "deep", "after", "more"}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}

func TestConfig(t *testing.T) {
	tests := []struct {
		cfg      Config
		name     string
		validErr string
	}{
		{Config{URL: "https://News.Example.com:8443/feed"}, "news.example.com", ""},
		{Config{URL: "https://news.example.com/feed", Name: "news_1"}, "news_1", ""},
		{Config{URL: "https://news.example.com/feed", Name: "my news"}, "", "letters, digits"},
		{Config{URL: "ftp://news.example.com/feed"}, "news.example.com", "not an http or https URL"},
		{Config{URL: "https://user:secret@news.example.com/feed"}, "news.example.com", "carries credentials"},
		{Config{URL: "https://news.example.com/feed", Lang: "English"}, "news.example.com", "not a language code"},
		{Config{URL: "/feed"}, "", "not an http or https URL"},
	}
	for _, tt := range tests {
		name, err := tt.cfg.FeedName()
		if tt.name != "" && (err != nil || name != tt.name) {
			t.Errorf("%+v: name %q (%v), want %q", tt.cfg, name, err, tt.name)
		}
		err = tt.cfg.Validate()
		switch {
		case tt.validErr == "" && err != nil:
			t.Errorf("%+v: %v", tt.cfg, err)
		case tt.validErr != "" && (err == nil || !strings.Contains(err.Error(), tt.validErr)):
			t.Errorf("%+v: error %v, want %q", tt.cfg, err, tt.validErr)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}
