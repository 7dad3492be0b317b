package feed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes through Parse: it never panics, and
// every article it makes has an ID with the feed's name, a title, an
// http(s) link or none, and normalised text (checkInvariants).
func FuzzParse(f *testing.F) {
	paths, err := filepath.Glob("testdata/*.*")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range paths {
		if strings.HasSuffix(p, ".golden") || strings.HasSuffix(p, ".md") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`<rss version="2.0"><channel><item><title>&lt;h2&gt;Key points&lt;/h2&gt;</title><guid>1</guid><description>&lt;h2&gt;Key points&lt;/h2&gt;&lt;ul&gt;&lt;li&gt;a&lt;/li&gt;&lt;/ul&gt;</description></item></channel></rss>`))
	f.Add([]byte(`{"version":"https://jsonfeed.org/version/1.1","items":[{"id":"1","content_text":"KEY POINTS\n- a\n  b\n"}]}`))
	f.Add([]byte(`<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>x</id><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div></content></entry></feed>`))
	cfg := Config{URL: "https://fuzz.example/feed.xml", Name: "fuzz", Tags: []string{"t"}, Lang: "en"}
	f.Fuzz(func(t *testing.T, data []byte) {
		feed, err := Parse(cfg, data, ParseOptions{FirstSeen: firstSeenFixed})
		if err != nil {
			return
		}
		checkInvariants(t, cfg, feed)
	})
}
