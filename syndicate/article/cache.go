package article

import (
	"io/fs"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/files"
)

// RescanEvery is how often a watched folder is listed and stat'ed whole
// even when no change was reported (in case a notification was lost).
const RescanEvery = 5 * time.Minute

// Cache keeps the articles of a folder between loads, for the daemon.
//
// A file whose inode, size, modification and change times are those of
// the last load is not read or parsed again. With Watch, the folder is
// watched (inotify, through fsnotify), and a load when nothing was
// reported since the last one returns the last articles without listing
// the folder at all: a tick on an unchanged archive of 100,000 files costs
// next to nothing (listing and stat'ing them all takes about 300 ms on
// this project's machine). Files that are symlinks are read again on
// every load: their target may change behind an unchanged link. A nil
// *Cache caches nothing.
type Cache struct {
	mu      sync.Mutex
	entries map[string]cached

	watcher  *fsnotify.Watcher
	watched  string
	dirty    bool      // a change was reported since the last full load
	lastScan time.Time // of the last full load
	last     Set       // its result
	links    []string  // its symlinked article files
}

type cached struct {
	stamp stamp
	a     *syndicate.Article
	err   error
}

// stamp is what tells a file changed.
type stamp struct {
	ino, size, mtime, ctime int64
	nlink                   uint64
}

// NewCache makes an empty cache.
func NewCache() *Cache { return &Cache{entries: map[string]cached{}, dirty: true} }

// Watch asks to be told of changes in dir, so that loads of an unchanged
// folder can skip listing it. Without it (or if watching fails) every
// load lists and stats the folder.
func (c *Cache) Watch(dir string) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return err
	}
	c.mu.Lock()
	c.watcher, c.watched, c.dirty = w, dir, true
	c.mu.Unlock()
	go func() {
		for {
			select {
			case _, ok := <-w.Events:
				if !ok {
					return
				}
				c.markDirty()
			case _, ok := <-w.Errors: // e.g. the kernel's queue overflowed
				if !ok {
					return
				}
				c.markDirty()
			}
		}
	}()
	return nil
}

// Close stops watching.
func (c *Cache) Close() error {
	if c == nil || c.watcher == nil {
		return nil
	}
	return c.watcher.Close()
}

// Invalidate makes the next load list and stat the folder whole. A run
// asked for by hand calls it: the watcher's events arrive a moment after
// the write, and a file saved just before the request must not wait for
// the next tick.
func (c *Cache) Invalidate() { c.markDirty() }

func (c *Cache) markDirty() {
	c.mu.Lock()
	c.dirty = true
	c.mu.Unlock()
}

// unchanged returns the last load's articles when the folder is watched,
// nothing was reported since, and the last full load is recent; the
// symlinked files are read again.
func (c *Cache) unchanged(dir string, opts Options) (Set, bool) {
	if c == nil {
		return Set{}, false
	}
	c.mu.Lock()
	ok := c.watcher != nil && c.watched == dir && !c.dirty && time.Since(c.lastScan) < RescanEvery
	last, links := c.last, c.links
	c.mu.Unlock()
	if !ok {
		return Set{}, false
	}
	if len(links) == 0 {
		return copySet(last), true
	}
	// A change behind a symlink is not reported: read those again.
	return Set{}, false
}

func copySet(s Set) Set {
	return Set{Articles: append([]*syndicate.Article(nil), s.Articles...), Problems: append([]error(nil), s.Problems...), Files: append(make([]string, 0, len(s.Files)), s.Files...), FolderChanged: s.FolderChanged}
}

// startScan notes that a full load begins: changes reported from now on
// make the next load scan again.
func (c *Cache) startScan() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.dirty = false
	c.links = c.links[:0]
	c.mu.Unlock()
}

// scanned keeps a full load's result.
func (c *Cache) scanned(dir string, set Set) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.last, c.lastScan = copySet(set), time.Now()
	c.mu.Unlock()
}

func stampOf(fi fs.FileInfo) (stamp, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return stamp{}, false
	}
	return stamp{ino: int64(st.Ino), size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(), nlink: uint64(st.Nlink)}, true
}

// load is loadIn through the cache.
func (c *Cache) load(folder *files.Folder, path, name string, opts Options) (*syndicate.Article, error) {
	if c == nil {
		return loadIn(folder, path, name, opts)
	}
	fi, err := folder.Lstat(name)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		c.mu.Lock()
		c.links = append(c.links, name)
		c.mu.Unlock()
	}
	st, ok := stampOf(fi)
	if err != nil || !ok {
		return loadIn(folder, path, name, opts)
	}
	c.mu.Lock()
	e, hit := c.entries[name]
	c.mu.Unlock()
	if hit && e.stamp == st {
		return e.a, e.err
	}
	a, err := loadIn(folder, path, name, opts)
	c.mu.Lock()
	c.entries[name] = cached{stamp: st, a: a, err: err}
	c.mu.Unlock()
	return a, err
}

// keep forgets the files that are gone.
func (c *Cache) keep(names []string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	live := make(map[string]bool, len(names))
	for _, n := range names {
		live[n] = true
	}
	for n := range c.entries {
		if !live[n] {
			delete(c.entries, n)
		}
	}
}
