package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// chromium finds a Chromium to drive: $CHROMIUM, or one on the PATH.
func chromium() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowser renders the preview page and the digest in headless
// Chromium at desktop and phone widths, saves screenshots, and checks the
// rendered DOM: every post visible, nothing wider than a 390 px phone,
// the unsubscribe link present, the picture (served under
// email.media_base_url from a local server) loaded, inside the column and
// in its proportions. SYNDICATE_SCREENSHOTS=dir keeps the PNGs (docs/
// holds the README's); otherwise they go to a temporary folder.
func TestBrowser(t *testing.T) {
	exe := chromium()
	if exe == "" {
		if os.Getenv("SYNDICATE_REQUIRE_PEERS") == "1" {
			t.Fatal("no Chromium, and SYNDICATE_REQUIRE_PEERS=1 (apt-get install chromium; .ci/run installs it)")
		}
		t.Skip("no Chromium (apt-get install chromium; .ci/run installs it): the browser test is skipped")
	}
	cfg := workspace(t, nil)
	media := httptest.NewServer(http.StripPrefix("/media/", http.FileServer(http.Dir(filepath.Join(filepath.Dir(cfg), "articles")))))
	defer media.Close()
	edited, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(withMediaBaseURL(media.URL+"/media/")(string(edited))), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if r := run(t, nil, "--config", cfg, "preview", "--out", filepath.Join(out, "preview")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := run(t, nil, "--config", cfg, "digest", "--dry-run", "--out", filepath.Join(out, "digest")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r := run(t, nil, "--config", cfg, "post", "--dry-run", "--json", "--all")
	var doc struct {
		Threads []struct {
			Network string
			Posts   []any
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	wantPosts, blueskyPosts := 0, 0
	for _, th := range doc.Threads {
		wantPosts += len(th.Posts)
		if th.Network == "bluesky" {
			blueskyPosts += len(th.Posts)
		}
	}
	if blueskyPosts == 0 {
		t.Fatal("the shipped config posts nothing to Bluesky: the preview's Bluesky cards go untested")
	}
	shots := os.Getenv("SYNDICATE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	shoot := func(name string, buf []byte) {
		if err := os.WriteFile(filepath.Join(shots, name), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	screenshot := func() []byte {
		t.Helper()
		b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, width := range []int64{1280, 390} {
		do(chromedp.EmulateViewport(width, 900), chromedp.Navigate("file://"+filepath.Join(out, "preview", "index.html")))
		posts := evaluate[int](t, ctx, `document.querySelectorAll(".post").length`)
		visible := evaluate[bool](t, ctx, `[...document.querySelectorAll(".post")].every(p => { const r = p.getBoundingClientRect(); return r.height > 0 && r.width > 0 && r.right <= window.innerWidth + 1 })`)
		if posts != wantPosts || !visible {
			t.Errorf("preview at %d px: %d posts (want %d), all visible %v", width, posts, wantPosts, visible)
		}
		if w := evaluate[float64](t, ctx, `document.documentElement.scrollWidth`); w > float64(width) {
			t.Errorf("preview at %d px scrolls sideways: %v px wide", width, w)
		}
		// Bluesky's cards, each length against Bluesky's limit, Mastodon's
		// against Mastodon's.
		if n := evaluate[int](t, ctx, `document.querySelectorAll(".thread.bluesky .post").length`); n != blueskyPosts {
			t.Errorf("preview at %d px: %d Bluesky cards, want %d", width, n, blueskyPosts)
		}
		if !evaluate[bool](t, ctx, `[...document.querySelectorAll(".thread.bluesky .len")].every(e => e.textContent.trim().endsWith("/ 300")) && [...document.querySelectorAll(".thread.mastodon .len")].every(e => e.textContent.trim().endsWith("/ 500"))`) {
			t.Errorf("preview at %d px: a length is not against its network's limit", width)
		}
		// Beside each other on a desktop, one above the other on a phone.
		layout := evaluate[string](t, ctx, `(() => { const out = new Set(); for (const a of document.querySelectorAll(".article")) {
			const m = a.querySelector(".thread.mastodon").getBoundingClientRect(), b = a.querySelector(".thread.bluesky").getBoundingClientRect();
			out.add(Math.abs(m.top - b.top) < 1 && b.left >= m.right ? "beside" : b.top >= m.bottom ? "below" : "overlapping") } return [...out].join(",") })()`)
		if want := map[int64]string{1280: "beside", 390: "below"}[width]; layout != want {
			t.Errorf("preview at %d px: Bluesky's thread is %s Mastodon's, want %s", width, layout, want)
		}
		shoot(map[int64]string{1280: "preview-desktop.png", 390: "preview-phone.png"}[width], screenshot())

		// The desktop/phone toggle narrows the digest frame.
		if width == 1280 {
			evaluate[bool](t, ctx, `(() => { document.querySelector("label[for=w-phone]").click(); return true })()`)
			do(chromedp.Sleep(400 * time.Millisecond))
			if w := evaluate[float64](t, ctx, `document.querySelector(".frame").getBoundingClientRect().width`); w > 391 {
				t.Errorf("phone toggle: the digest frame is %v px wide", w)
			}
		}

		do(chromedp.Navigate("file://" + filepath.Join(out, "digest", "digest.html")))
		if w := evaluate[float64](t, ctx, `document.documentElement.scrollWidth`); w > float64(width) {
			t.Errorf("digest at %d px scrolls sideways: %v px wide", width, w)
		}
		if !evaluate[bool](t, ctx, `(() => { const a = document.querySelector('a[href*="unsubscribe"]'); if (!a) return false; const r = a.getBoundingClientRect(); return r.width > 0 && r.height > 0 })()`) {
			t.Errorf("digest at %d px: no visible unsubscribe link", width)
		}
		checkPicture(t, ctx, width)
		shoot(map[int64]string{1280: "digest-desktop.png", 390: "digest-phone.png"}[width], screenshot())
	}
	// The width the template is made for: the picture fills its column.
	do(chromedp.EmulateViewport(600, 900), chromedp.Navigate("file://"+filepath.Join(out, "digest", "digest.html")))
	if w := checkPicture(t, ctx, 600); w < 500 {
		t.Errorf("digest at 600 px: the picture is %v px wide, want the column (536 px less the phone padding)", w)
	}
	shoot("digest-600.png", screenshot())

	// The narrowest phones: a long URL in a key point wraps, nothing scrolls
	// sideways. Light and dark mode keep every link at WCAG AA (4.5:1).
	do(chromedp.EmulateViewport(320, 900), chromedp.Navigate("file://"+filepath.Join(out, "digest", "digest.html")))
	if w := evaluate[float64](t, ctx, `document.documentElement.scrollWidth`); w > 320 {
		t.Errorf("digest at 320 px scrolls sideways: %v px wide", w)
	}
	if !evaluate[bool](t, ctx, `[...document.querySelectorAll("li a")].some(a => a.href.includes("full-text-as-adopted.pdf"))`) {
		t.Error("the URL in a key point is not a link")
	}
	checkPicture(t, ctx, 320)
	for _, scheme := range []string{"light", "dark"} {
		do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
			return err
		}), chromedp.Navigate("file://"+filepath.Join(out, "digest", "digest.html")))
		pairs := evaluate[[][]any](t, ctx, contrastJS)
		if len(pairs) < 5 {
			t.Fatalf("%s mode: %d links checked, want every link of the digest", scheme, len(pairs))
		}
		for _, pair := range pairs {
			if ratio := pair[0].(float64); ratio < 4.5 {
				t.Errorf("%s mode: the link %q has a contrast of %.2f:1, under WCAG AA's 4.5:1", scheme, pair[1], ratio)
			}
		}
		shoot("digest-320-"+scheme+".png", screenshot())
	}
}

// checkPicture checks the digest's one picture at a viewport width: loaded
// from media_base_url (640 × 360), inside the viewport and its card, and
// drawn in its own proportions. It returns the drawn width.
func checkPicture(t *testing.T, ctx context.Context, width int64) float64 {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`[...document.images].every(i => i.complete)`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("digest at %d px: the pictures did not load: %v", width, err)
	}
	got := evaluate[[]float64](t, ctx, `(() => { const i = document.querySelectorAll("img"); if (i.length !== 1) return [i.length]; const r = i[0].getBoundingClientRect(), c = i[0].closest("td").getBoundingClientRect();
	  return [1, i[0].naturalWidth, i[0].naturalHeight, r.width, r.height, r.left - c.left, c.right - r.right, window.innerWidth - r.right] })()`)
	if len(got) != 8 {
		t.Fatalf("digest at %d px: %v pictures, want 1", width, got[0])
	}
	natW, natH, w, h, left, right, edge := got[1], got[2], got[3], got[4], got[5], got[6], got[7]
	if natW != 640 || natH != 360 {
		t.Errorf("digest at %d px: the picture is %v × %v, want 640 × 360 loaded from media_base_url", width, natW, natH)
	}
	if w <= 0 || w > 536 || left < 0 || right < 0 || edge < 0 {
		t.Errorf("digest at %d px: the picture is %v px wide, %v px from its card's left, %v from its right, %v from the window's: want it inside", width, w, left, right, edge)
	}
	if ratio := h / w; ratio < 360.0/640*0.98 || ratio > 360.0/640*1.02 {
		t.Errorf("digest at %d px: the picture is drawn %v × %v, not in its proportions (16:9)", width, w, h)
	}
	return w
}

// contrastJS returns, for every link of the page, the WCAG contrast ratio
// of its text against the background it is drawn on (the first ancestor
// with an opaque background), as [ratio, text] pairs.
const contrastJS = `(() => {
  const rgb = s => s.match(/[\d.]+/g).map(Number);
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4) }); return 0.2126 * r + 0.7152 * g + 0.0722 * b };
  const bg = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor); if (c.length < 4 || c[3] > 0) return c } return [255, 255, 255] };
  return [...document.querySelectorAll("a")].map(a => { const f = lum(rgb(getComputedStyle(a).color)), b = lum(bg(a)); return [(Math.max(f, b) + 0.05) / (Math.min(f, b) + 0.05), a.textContent.trim().slice(0, 40)] });
})()`

func evaluate[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}
