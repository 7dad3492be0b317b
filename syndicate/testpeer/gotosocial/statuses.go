package gotosocial

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Status is a post as the Mastodon API of the server returns it to its author.
type Status struct {
	ID                 string
	CreatedAt          time.Time
	EditedAt           time.Time // zero unless edited
	InReplyToID        string    // "" for a thread's head
	InReplyToAccountID string
	// Content is the HTML the server rendered (<p>, <br>, links, mentions, hashtags).
	Content string
	// Text is the plain text of Content: paragraphs apart by a blank line, <br> as a newline, tags dropped,
	// entities decoded. It is what a reader sees, which for plain-text posts is the text as posted.
	Text string
	// Source is the "text" field: the text exactly as posted. GoToSocial v0.18.3 returns it with every
	// status of a local account (Mastodon only on delete and via /source).
	Source           string
	Visibility       string // public, unlisted, private, direct
	Language         string
	SpoilerText      string
	Sensitive        bool
	URI, URL         string
	MediaAttachments []Media
	// Raw is the whole JSON object, for anything not above.
	Raw json.RawMessage
}

// Media is an attachment of a Status.
type Media struct {
	ID, Type, URL, PreviewURL, Description string
}

type wireStatus struct {
	ID                 string  `json:"id"`
	CreatedAt          string  `json:"created_at"`
	EditedAt           *string `json:"edited_at"`
	InReplyToID        *string `json:"in_reply_to_id"`
	InReplyToAccountID *string `json:"in_reply_to_account_id"`
	Content            string  `json:"content"`
	Text               string  `json:"text"`
	Visibility         string  `json:"visibility"`
	Language           *string `json:"language"`
	SpoilerText        string  `json:"spoiler_text"`
	Sensitive          bool    `json:"sensitive"`
	URI                string  `json:"uri"`
	URL                string  `json:"url"`
	MediaAttachments   []struct {
		ID          string  `json:"id"`
		Type        string  `json:"type"`
		URL         *string `json:"url"`
		PreviewURL  *string `json:"preview_url"`
		Description *string `json:"description"`
	} `json:"media_attachments"`
}

// ParseStatus turns one Mastodon-API status object into a Status.
func ParseStatus(raw json.RawMessage) (Status, error) {
	var w wireStatus
	if err := json.Unmarshal(raw, &w); err != nil {
		return Status{}, err
	}
	st := Status{
		ID:                 w.ID,
		InReplyToID:        deref(w.InReplyToID),
		InReplyToAccountID: deref(w.InReplyToAccountID),
		Content:            w.Content,
		Text:               HTMLText(w.Content),
		Source:             w.Text,
		Visibility:         w.Visibility,
		Language:           deref(w.Language),
		SpoilerText:        w.SpoilerText,
		Sensitive:          w.Sensitive,
		URI:                w.URI,
		URL:                w.URL,
		Raw:                append(json.RawMessage(nil), raw...),
	}
	st.CreatedAt, _ = time.Parse(time.RFC3339Nano, w.CreatedAt)
	if w.EditedAt != nil {
		st.EditedAt, _ = time.Parse(time.RFC3339Nano, *w.EditedAt)
	}
	for _, m := range w.MediaAttachments {
		st.MediaAttachments = append(st.MediaAttachments, Media{
			ID: m.ID, Type: m.Type, URL: deref(m.URL), PreviewURL: deref(m.PreviewURL), Description: deref(m.Description),
		})
	}
	return st, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Statuses returns all the statuses of the account (replies included, any visibility), oldest first, read
// with the account's own token through GET /api/v1/accounts/:id/statuses, page by page.
func (a *Account) Statuses(t testing.TB) []Status {
	t.Helper()
	var all []Status
	maxID := ""
	for {
		q := url.Values{"limit": {"40"}}
		if maxID != "" {
			q.Set("max_id", maxID)
		}
		var page []json.RawMessage
		if err := a.srv.getJSON(a.Token, "/api/v1/accounts/"+a.AccountID+"/statuses?"+q.Encode(), &page, nil); err != nil {
			t.Fatalf("gotosocial: statuses of %s: %v", a.Username, err)
		}
		if len(page) == 0 {
			break
		}
		for _, raw := range page {
			st, err := ParseStatus(raw)
			if err != nil {
				t.Fatalf("gotosocial: statuses of %s: %v", a.Username, err)
			}
			all = append(all, st)
		}
		maxID = all[len(all)-1].ID
	}
	slices.Reverse(all) // the API pages newest first
	return all
}

// Status returns one status by ID, read with the account's token; ok is false when the server answers 404
// (deleted, or never there).
func (a *Account) Status(t testing.TB, id string) (st Status, ok bool) {
	t.Helper()
	var raw json.RawMessage
	err := a.srv.getJSON(a.Token, "/api/v1/statuses/"+url.PathEscape(id), &raw, nil)
	var nf notFound
	if errors.As(err, &nf) {
		return Status{}, false
	}
	if err != nil {
		t.Fatalf("gotosocial: status %s: %v", id, err)
	}
	if st, err = ParseStatus(raw); err != nil {
		t.Fatalf("gotosocial: status %s: %v", id, err)
	}
	return st, true
}

type notFound struct{ path string }

func (e notFound) Error() string { return fmt.Sprintf("GET %s: 404 Not Found", e.path) }

var (
	reParaBreak = regexp.MustCompile(`(?i)</p>\s*<p[^>]*>`)
	reBreak     = regexp.MustCompile(`(?i)<br\s*/?>`)
	reTag       = regexp.MustCompile(`<[^>]*>`)
)

// HTMLText turns the server's status HTML into the text a reader sees: "</p><p>" is a blank line, <br> a
// newline, other tags are dropped and entities decoded. It is made for GoToSocial's own simple markup.
func HTMLText(s string) string {
	s = reParaBreak.ReplaceAllString(s, "\n\n")
	s = reBreak.ReplaceAllString(s, "\n")
	s = reTag.ReplaceAllString(s, "")
	return strings.TrimSpace(html.UnescapeString(s))
}
