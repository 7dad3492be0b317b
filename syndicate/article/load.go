package article

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

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
	var set Set
	byID := map[string]string{}
	for _, e := range entries {
		if e.IsDir() || !IsArticleFile(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		a, err := LoadFile(path, opts)
		if err != nil {
			set.Problems = append(set.Problems, err)
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
