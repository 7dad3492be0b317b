// Package source gathers the articles of every source — the articles
// folder and the configured feeds — into the one set the jobs, the dry
// runs and status see. Each source hands over finished articles (see
// article.Finish, the step every source ends with); Gather puts them
// together, one article per link.
//
// A feed's items are kept in the state as they are seen (store.RecordFetch),
// so a run sees an item the feed has since moved past, and a feed that is
// down costs its new items a delay, never the items already seen. The
// first fetch of a feed adopts its items (records them as posted and
// mailed) but the newest "backfill": adding a feed never floods the
// followers with its archive.
package source

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/article"
)

// Source is one place articles come from.
type Source interface {
	// Name is what problems and the preview call it: "folder", "feeds".
	Name() string
	// Load returns the source's articles and the problems of its parts
	// (a broken file, a bad item, a feed that did not answer): one broken
	// part never hides the rest. An error means the source as a whole
	// cannot be read.
	Load(ctx context.Context) (Set, error)
}

// Set is what the sources gave.
type Set struct {
	Articles []*syndicate.Article
	// Problems are reported ("path:line: …", "feed:NAME: …"); the
	// articles they concern are left out, the others go on.
	Problems []error
	// Notes say what a source did that is worth a line in the log: a
	// feed adopted, an article dropped as another's duplicate.
	Notes []string
	// Files are the IDs of every file in the folder (article.Set.Files).
	Files []string
	// FolderChanged is when a file last came or went in the folder
	// (article.Set.FolderChanged).
	FolderChanged time.Time
}

// Folder is the articles folder.
type Folder struct {
	Dir     string
	Options article.Options
}

// Name is "folder".
func (*Folder) Name() string { return "folder" }

// Load reads the folder (see article.LoadDir).
func (f *Folder) Load(context.Context) (Set, error) {
	s, err := article.LoadDir(f.Dir, f.Options)
	return Set{Articles: s.Articles, Problems: s.Problems, Files: s.Files, FolderChanged: s.FolderChanged}, err
}

// Gather loads every source, in order, and makes one set of them. Two
// articles with the same link are one article: the one the state already
// knows (claimed reports an ID that has a record or is in a digest) is
// kept, else the first in source order (the folder, then the feeds as the
// config lists them). Two articles with the same ID from different
// sources are a problem of the later one.
func Gather(ctx context.Context, sources []Source, claimed func(id string) bool) (Set, error) {
	var all Set
	for _, src := range sources {
		s, err := src.Load(ctx)
		if err != nil {
			return all, fmt.Errorf("%s: %w", src.Name(), err)
		}
		all.Articles = append(all.Articles, s.Articles...)
		all.Problems = append(all.Problems, s.Problems...)
		all.Notes = append(all.Notes, s.Notes...)
		if s.Files != nil {
			all.Files = append(append(make([]string, 0, len(all.Files)+len(s.Files)), all.Files...), s.Files...)
		}
		if s.FolderChanged.After(all.FolderChanged) {
			all.FolderChanged = s.FolderChanged
		}
	}
	if claimed == nil {
		claimed = func(string) bool { return false }
	}
	byID := map[string]*syndicate.Article{}
	byLink := map[string]int{} // normalised link → index in kept
	var kept []*syndicate.Article
	for _, a := range all.Articles {
		if other, dup := byID[a.ID]; dup {
			all.Problems = append(all.Problems, fmt.Errorf("%s: article ID %q is also %s's; rename one of them", a.Path, a.ID, other.Path))
			continue
		}
		byID[a.ID] = a
		link := SameLink(a.URL)
		i, dup := byLink[link]
		if link == "" || !dup {
			if link != "" {
				byLink[link] = len(kept)
			}
			kept = append(kept, a)
			continue
		}
		first := kept[i]
		if claimed(a.ID) && !claimed(first.ID) {
			kept[i], first, a = a, a, first
		}
		all.Notes = append(all.Notes, fmt.Sprintf("%s has the link of %s (%s): one article, %s", a.Path, first.Path, a.URL, first.ID))
	}
	all.Articles = kept
	return all, nil
}

// SameLink is the form of a link two articles are compared by: scheme
// and host in lower case, no fragment, no trailing slash on the path, no
// default port. "" for a link that does not parse.
func SameLink(link string) string {
	u, err := url.Parse(strings.TrimSpace(link))
	if err != nil || u.Host == "" {
		return ""
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	u.Host = strings.TrimSuffix(strings.TrimSuffix(u.Host, ":443"), ":80")
	u.Fragment, u.RawFragment = "", ""
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	if u.Scheme == "http" {
		u.Scheme = "https" // the same page, told apart by nothing a reader sees
	}
	return u.String()
}
