package article

import (
	"errors"
	"net/url"
	"strings"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/text"
)

// FinishOptions are what the last step of every source needs.
type FinishOptions struct {
	// KeyPointsGiven is true when the source said what the key points
	// are, even none (front matter "key_points: []"): nothing is
	// extracted then.
	KeyPointsGiven bool
	// Extract chooses key points from the body (nil: none are chosen).
	Extract func(paragraphs []string, lang string) []string
	// BaseURL links an article without a link of its own to BaseURL/ID
	// ("" leaves it without one).
	BaseURL string
}

// ErrNoText is Finish's error for an article with nothing to show.
var ErrNoText = errors.New("no title, key points or text")

// Finish is the last step every source takes — the folder's files and the
// feeds' items alike, so both read the same way: key points chosen from
// the body when the source gave none; a missing title taken from the first
// key point (which is then not repeated as a reply), else from the start
// of the text; a missing link made from BaseURL.
func Finish(a *syndicate.Article, o FinishOptions) error {
	if len(a.KeyPoints) == 0 && !o.KeyPointsGiven && o.Extract != nil {
		a.KeyPoints = o.Extract(a.Body, a.Lang)
		a.KeyPointsExtracted = len(a.KeyPoints) > 0
	}
	if a.Title == "" && len(a.KeyPoints) > 0 {
		// The first key point is the headline (the seed article has no
		// other): it heads the thread and the digest entry.
		a.Title, a.KeyPoints = a.KeyPoints[0], a.KeyPoints[1:]
	}
	if a.Title == "" && len(a.Body) > 0 {
		a.Title = text.Shorten(a.Body[0], 120)
	}
	if a.Title == "" {
		return ErrNoText
	}
	if a.URL == "" && o.BaseURL != "" {
		base := o.BaseURL
		if !strings.HasSuffix(base, "/") {
			base += "/"
		}
		a.URL = base + url.PathEscape(a.ID)
	}
	return nil
}
