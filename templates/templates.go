// Package templates embeds the default templates. A file of the same name
// in the user's templates folder (config key templates_dir) overrides the
// embedded one; all of them are parsed at start, so a broken template
// stops start-up instead of the first send.
package templates

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/syndicate-bot/syndicate/syndicate/files"
)

//go:embed *.tmpl
var embedded embed.FS

// Names of the templates the bot renders.
const (
	HeadPost    = "post-head.tmpl"
	DigestHTML  = "digest.html.tmpl"
	DigestText  = "digest.txt.tmpl"
	PreviewPage = "preview.html.tmpl"
)

// Read returns the text of a template: from dir when it holds one of that
// name, else the embedded default. dir may be empty.
func Read(dir, name string) (string, error) {
	src, _, err := Open(dir, name)
	return src, err
}

// Open is Read, and also says where the text came from: the file in dir,
// or "built-in <name>". Parse the template under that name, so that every
// error names the file and line ("templates/digest.html.tmpl:12: …").
func Open(dir, name string) (src, source string, err error) {
	if dir != "" {
		path := filepath.Join(dir, name)
		// A regular file of at most 1 MiB, never waited on (a FIFO).
		b, err := files.ReadFile(path, 1<<20)
		if err == nil {
			return string(b), path, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", path, fmt.Errorf("reading template %s: %w", path, err)
		}
	}
	b, err := embedded.ReadFile(name)
	if err != nil {
		return "", "", fmt.Errorf("no template %s: %w", name, err)
	}
	return string(b), "built-in " + name, nil
}
