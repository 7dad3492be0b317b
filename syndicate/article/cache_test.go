package article

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.md", "---\ntitle: A\n---\nText.\n")
	write("b.md", "---\ntitle: B\n---\nText.\n")
	write("target.txt", "---\ntitle: Linked\n---\nText.\n")
	if err := os.Symlink("target.txt", filepath.Join(dir, "link.md")); err != nil {
		t.Fatal(err)
	}
	cache := NewCache()
	load := func() map[string]*struct{ title string } {
		t.Helper()
		set, err := LoadDir(dir, Options{Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*struct{ title string }{}
		for _, a := range set.Articles {
			out[a.ID] = &struct{ title string }{a.Title}
		}
		return out
	}
	first, _ := LoadDir(dir, Options{Cache: cache})
	second, _ := LoadDir(dir, Options{Cache: cache})
	byID := func(s Set, id string) any {
		for _, a := range s.Articles {
			if a.ID == id {
				return a
			}
		}
		return nil
	}
	if byID(first, "a") != byID(second, "a") {
		t.Error("an unchanged file was parsed again")
	}
	if byID(first, "link") == byID(second, "link") {
		t.Error("a symlinked file was taken from the cache")
	}
	// The same size and modification time, other content: the change
	// time tells.
	fi, _ := os.Stat(filepath.Join(dir, "a.md"))
	write("a.md", "---\ntitle: Z\n---\nText.\n")
	os.Chtimes(filepath.Join(dir, "a.md"), fi.ModTime(), fi.ModTime())
	if got := load()["a"].title; got != "Z" {
		t.Errorf("after an edit that kept size and mtime: title %q, want Z", got)
	}
	os.Remove(filepath.Join(dir, "b.md"))
	if _, there := load()["b"]; there {
		t.Error("a deleted file is still loaded")
	}
	if len(cache.entries) != 2 { // a.md and target.txt; link.md is never cached
		t.Errorf("%d entries kept, want the two regular files left", len(cache.entries))
	}
}

// TestCache_Watch: a watched folder is not listed again until a change is
// reported, and every change is.
func TestCache_Watch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.md")
	os.WriteFile(path, []byte("---\ntitle: A\n---\nText.\n"), 0o644)
	cache := NewCache()
	if err := cache.Watch(dir); err != nil {
		t.Skip("cannot watch:", err)
	}
	defer cache.Close()
	titles := func() string {
		set, err := LoadDir(dir, Options{Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range set.Articles {
			out = append(out, a.Title)
		}
		return fmt.Sprint(out)
	}
	eventuallyTitles := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if got := titles(); got == want {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("titles = %s, want %s", titles(), want)
	}
	eventuallyTitles("[A]")
	os.WriteFile(filepath.Join(dir, "b.md"), []byte("---\ntitle: B\n---\nText.\n"), 0o644)
	eventuallyTitles("[A B]")
	fi, _ := os.Stat(path)
	os.WriteFile(path, []byte("---\ntitle: Z\n---\nText.\n"), 0o644) // same size
	os.Chtimes(path, fi.ModTime(), fi.ModTime())
	eventuallyTitles("[Z B]")
	os.Remove(filepath.Join(dir, "b.md"))
	eventuallyTitles("[Z]")
}

// BenchmarkLoadDir_Unchanged is the daemon's tick on an archive that has
// not changed: 100,000 articles, read once, then listed and stat'ed only.
// Compare with BenchmarkLoadDir_Cold (every file read and parsed).
func BenchmarkLoadDir_Unchanged(b *testing.B) {
	dir := archive(b, 100_000)
	cache := NewCache()
	if err := cache.Watch(dir); err != nil {
		b.Fatal(err)
	}
	defer cache.Close()
	if _, err := LoadDir(dir, Options{Cache: cache}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		set, err := LoadDir(dir, Options{Cache: cache})
		if err != nil || len(set.Articles) != 100_000 {
			b.Fatalf("%d articles, %v", len(set.Articles), err)
		}
	}
}

// BenchmarkLoadDir_UnwatchedUnchanged: the same without a watch, every
// file stat'ed (what a one-shot command does when given a cache).
func BenchmarkLoadDir_UnwatchedUnchanged(b *testing.B) {
	dir := archive(b, 100_000)
	cache := NewCache()
	if _, err := LoadDir(dir, Options{Cache: cache}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := LoadDir(dir, Options{Cache: cache}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadDir_Cold(b *testing.B) {
	dir := archive(b, 100_000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := LoadDir(dir, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// archive writes n small articles into a temporary folder.
func archive(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	mt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("story-%06d.md", i))
		body := fmt.Sprintf("---\ntitle: Story number %d from the archive\ntags: [archive]\nkey_points: [The first point of story %d., The second point.]\n---\nThe body of story %d, in one paragraph.\n", i, i, i)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
		os.Chtimes(p, mt, mt)
	}
	return dir
}

// TestCache_Invalidate: a run asked for by hand sees a file written just
// before, even when the watcher has not reported it yet.
func TestCache_Invalidate(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.md"), []byte("---\ntitle: A\n---\nText.\n"), 0o644)
	cache := NewCache()
	if err := cache.Watch(dir); err != nil {
		t.Skip("cannot watch:", err)
	}
	defer cache.Close()
	if _, err := LoadDir(dir, Options{Cache: cache}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "b.md"), []byte("---\ntitle: B\n---\nText.\n"), 0o644)
	cache.mu.Lock()
	cache.dirty = false // the watcher's event has not arrived
	cache.mu.Unlock()
	cache.Invalidate()
	set, err := LoadDir(dir, Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(set.Articles), 2; got != want {
		t.Errorf("%d articles after Invalidate, want %d", got, want)
	}
}
