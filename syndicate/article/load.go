package article

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/files"
)

// Set is the outcome of reading a folder: the articles that parsed and a
// problem for each file that did not. One broken file never hides the rest.
type Set struct {
	Articles []*syndicate.Article
	Problems []error
	// Files are the IDs of every article file in the folder, read or not
	// (a file with a problem is still there): a thread whose file is gone
	// is told by its ID's absence.
	Files []string
	// FolderChanged is the folder's modification time as it was listed:
	// when a file last came or went (or was renamed).
	FolderChanged time.Time
}

// LoadDir reads every article file in dir (not its subfolders), sorted by
// ID. It fails only when the folder itself cannot be read. Every file is
// opened inside dir (see package files): a symlink that leaves it, a FIFO,
// a device or a folder with an article's name is a problem of that file.
// Pictures are checked inside dir and opts.MediaDirs.
func LoadDir(dir string, opts Options) (Set, error) {
	if set, ok := opts.Cache.unchanged(dir, opts); ok {
		return set, nil
	}
	opts.Cache.startScan()
	folder, err := files.OpenFolder(dir)
	if err != nil {
		return Set{}, fmt.Errorf("reading articles folder: %w", err)
	}
	defer folder.Close()
	entries, err := folder.ReadDir()
	if err != nil {
		return Set{}, fmt.Errorf("reading articles folder: %w", err)
	}
	// After the listing: a file that comes or goes meanwhile makes the
	// time later, never earlier, than the list.
	var changed time.Time
	if fi, err := folder.Lstat("."); err == nil {
		changed = fi.ModTime()
	}
	if opts.Images == nil {
		images, err := files.OpenImages(append([]string{dir}, opts.MediaDirs...)...)
		if err != nil {
			return Set{}, fmt.Errorf("media_dirs: %w", err)
		}
		defer images.Close()
		opts.Images = images
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && IsArticleFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	// Parse on every core: a newsroom archive is read on every run.
	type loaded struct {
		a   *syndicate.Article
		err error
	}
	results := make([]loaded, len(names))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(names)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(names); i = int(next.Add(1) - 1) {
				results[i].a, results[i].err = opts.Cache.load(folder, filepath.Join(dir, names[i]), names[i], opts)
			}
		}()
	}
	wg.Wait()

	opts.Cache.keep(names)
	set := Set{Files: make([]string, 0, len(names)), FolderChanged: changed} // none: an empty folder, not an unknown one
	for _, n := range names {
		set.Files = append(set.Files, ID(n))
	}
	byID := map[string]string{}
	for i, r := range results {
		path, a := filepath.Join(dir, names[i]), r.a
		if r.err != nil {
			set.Problems = append(set.Problems, r.err)
			continue
		}
		if other, dup := byID[a.ID]; dup {
			set.Problems = append(set.Problems, &Error{Path: path, Line: 1, Msg: fmt.Sprintf("article ID %q is already used by %s; rename one of them", a.ID, other)})
			continue
		}
		byID[a.ID] = path
		set.Articles = append(set.Articles, a)
	}
	sort.Slice(set.Articles, func(i, j int) bool { return set.Articles[i].ID < set.Articles[j].ID })
	opts.Cache.scanned(dir, set)
	return set, nil
}

// LoadFile reads and parses one article file, confined to its folder.
func LoadFile(path string, opts Options) (*syndicate.Article, error) {
	folder, err := files.OpenFolder(filepath.Dir(path))
	if err != nil {
		return nil, &Error{Path: path, Line: 1, Msg: fmt.Sprintf("cannot read: %v", errors.Unwrap(err))}
	}
	defer folder.Close()
	return loadIn(folder, path, filepath.Base(path), opts)
}

// loadIn reads name inside folder; path is how errors name it.
func loadIn(folder *files.Folder, path, name string, opts Options) (*syndicate.Article, error) {
	data, fi, err := folder.ReadFile(name, MaxSize)
	if err != nil {
		var p *files.Problem
		if errors.As(err, &p) {
			if errors.Is(err, files.ErrTooLarge) {
				return nil, &Error{Path: path, Line: 1, Msg: fmt.Sprintf("file is over the %d-byte (1 MiB) limit for an article; not read", MaxSize)}
			}
			return nil, &Error{Path: path, Line: 1, Msg: "file " + p.Reason}
		}
		return nil, &Error{Path: path, Line: 1, Msg: fmt.Sprintf("cannot read: %v", err)}
	}
	a, err := Parse(path, data, opts)
	if err != nil {
		return nil, err
	}
	a.ModTime = fi.ModTime()
	return a, nil
}
