package article

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// Set is the outcome of reading a folder: the articles that parsed and a
// problem for each file that did not. One broken file never hides the rest.
type Set struct {
	Articles []*syndicate.Article
	Problems []error
}

// LoadDir reads every article file in dir (not its subfolders), sorted by
// ID. It fails only when the folder itself cannot be read.
func LoadDir(dir string, opts Options) (Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return Set{}, fmt.Errorf("reading articles folder: %w", err)
	}
	if opts.FileExists == nil {
		opts.FileExists = func(p string) bool {
			fi, err := os.Stat(p)
			return err == nil && fi.Mode().IsRegular()
		}
	}
	var paths []string
	for _, e := range entries {
		if !e.IsDir() && IsArticleFile(e.Name()) {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	// Parse on every core: a newsroom archive is read on every run.
	type loaded struct {
		a   *syndicate.Article
		err error
	}
	results := make([]loaded, len(paths))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(paths)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(paths); i = int(next.Add(1) - 1) {
				results[i].a, results[i].err = LoadFile(paths[i], opts)
			}
		}()
	}
	wg.Wait()

	var set Set
	byID := map[string]string{}
	for i, r := range results {
		path, a := paths[i], r.a
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
	return set, nil
}

// LoadFile reads and parses one article file.
func LoadFile(path string, opts Options) (*syndicate.Article, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Path: path, Line: 1, Msg: fmt.Sprintf("cannot read: %v", errors.Unwrap(err))}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &Error{Path: path, Line: 1, Msg: fmt.Sprintf("cannot read: %v", err)}
	}
	if fi.Size() > MaxSize {
		return nil, &Error{Path: path, Line: 1, Msg: fmt.Sprintf("file is %d bytes, over the %d-byte (1 MiB) limit", fi.Size(), MaxSize)}
	}
	// Read one byte past the limit in case the file grew since Stat.
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, &Error{Path: path, Line: 1, Msg: fmt.Sprintf("cannot read: %v", err)}
	}
	a, err := Parse(path, data, opts)
	if err != nil {
		return nil, err
	}
	a.ModTime = fi.ModTime()
	return a, nil
}
