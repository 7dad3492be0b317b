package syndicate_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	texttemplate "text/template"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/article"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
	"github.com/syndicate-bot/syndicate/syndicate/keypoints"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
	"github.com/syndicate-bot/syndicate/templates"
)

// corpus makes n article files in memory from the shipped samples, each
// with its own ID and numbers so no work is shared between them.
func corpus(b *testing.B, n int) [][]byte {
	b.Helper()
	paths, err := filepath.Glob("../articles/*")
	if err != nil {
		b.Fatal(err)
	}
	var samples []string
	for _, p := range paths {
		if !article.IsArticleFile(filepath.Base(p)) || strings.Contains(p, "draft") || strings.Contains(p, "embargo") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		// The image is checked for existence; the benchmark has no files.
		samples = append(samples, strings.ReplaceAll(string(data), "image: offshore-wind.png\n", ""))
	}
	out := make([][]byte, n)
	for i := range out {
		s := samples[i%len(samples)]
		out[i] = []byte(strings.ReplaceAll(s, "2027", fmt.Sprint(2000+i%1000)))
	}
	return out
}

// BenchmarkPipeline parses, composes the thread of and renders the digest
// entry of 10,000 articles per iteration (digests of 10 articles each) on
// every core, as article.LoadDir does, and reports articles per second.
// Each worker holds one article (and one digest batch) at a time, so
// memory is flat in the number of articles: B/op per article is the same
// for 1,000 (BenchmarkPipeline1k) and 10,000. BenchmarkPipelineOneCore is
// the same work on one goroutine.
func BenchmarkPipeline(b *testing.B)        { benchmarkPipeline(b, 10000, runtime.GOMAXPROCS(0)) }
func BenchmarkPipeline1k(b *testing.B)      { benchmarkPipeline(b, 1000, runtime.GOMAXPROCS(0)) }
func BenchmarkPipelineOneCore(b *testing.B) { benchmarkPipeline(b, 10000, 1) }

func benchmarkPipeline(b *testing.B, n, workers int) {
	files := corpus(b, n)
	src, err := templates.Read("", templates.HeadPost)
	if err != nil {
		b.Fatal(err)
	}
	opts := thread.Options{
		Limits: syndicate.DefaultLimits(), Numbering: true, Visibility: "public", ReplyVisibility: "unlisted",
		Head: texttemplate.Must(texttemplate.New("head").Parse(src)),
	}
	r, err := digest.NewRenderer("", "{{.ListName}}: {{(index .Articles 0).Title}}", "Brief")
	if err != nil {
		b.Fatal(err)
	}
	reader := syndicate.Reader{Email: "ada@example.org", Name: "Ada"}
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	// Articles without key points get them from the extractor, as in a run.
	aopts := article.Options{BaseURL: "https://news.example.org/", Location: time.UTC, Extract: func(p []string, lang string) []string {
		return keypoints.Extract(p, keypoints.Options{Count: 3, Lang: lang})
	}}
	b.ReportAllocs()
	b.ResetTimer()
	work := func(files [][]byte, offset int) error {
		batch := make([]*syndicate.Article, 0, 10)
		for i, data := range files {
			a, err := article.Parse(fmt.Sprintf("a%d.md", offset+i), data, aopts)
			if err != nil {
				return err
			}
			if _, err := thread.Compose(a, opts); err != nil {
				return err
			}
			batch = append(batch, a)
			if len(batch) == cap(batch) || i == len(files)-1 {
				dg, _ := digest.New(batch, day, 0, digest.Pictures{})
				m, err := r.Render(dg, reader, "https://e.org/u")
				if err != nil {
					return err
				}
				io.WriteString(io.Discard, m.HTML)
				batch = batch[:0]
			}
		}
		return nil
	}
	for b.Loop() {
		var g errgroup.Group
		per := (len(files) + workers - 1) / workers
		for w := 0; w < workers; w++ {
			lo, hi := w*per, min((w+1)*per, len(files))
			g.Go(func() error { return work(files[lo:hi], lo) })
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "articles/s")
	b.ReportMetric(0, "ns/op")
}
