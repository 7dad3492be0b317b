package mastodon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	gomastodon "github.com/mattn/go-mastodon"

	"github.com/syndicate-bot/syndicate/syndicate"
)

var (
	_ syndicate.Editor  = (*Client)(nil)
	_ syndicate.Deleter = (*Client)(nil)
)

// Edit replaces a status's text, content warning, language and media
// (PUT /api/v1/statuses/:id, Mastodon 3.5+, GoToSocial 0.18+), through the
// client's own transport (timeouts, rate-limit waits). keepMedia keeps
// the status's attachments, read from the server, with p.MediaAlt as
// their alt text. An edit is idempotent: sent again, it changes nothing.
//
// A 404 or 405 is told apart by reading the status (GET
// /api/v1/statuses/:id): it exists, so the server has no edits
// (syndicate.ErrNoEdits, and every later Edit of this client says so at
// once); it is gone, deleted by hand (syndicate.ErrRejected).
func (c *Client) Edit(ctx context.Context, id string, p syndicate.PlannedPost, keepMedia bool, media []string) (syndicate.Status, error) {
	op := fmt.Sprintf("edit post %d (status %s)", p.Index+1, id)
	if c.noEdits.Load() {
		return syndicate.Status{}, fmt.Errorf("%s: %w", op, syndicate.ErrNoEdits)
	}
	if keepMedia {
		st, found, err := c.getStatus(ctx, id)
		if err != nil {
			return syndicate.Status{}, err
		}
		if !found {
			return syndicate.Status{}, deletedByHand(op, id)
		}
		media = nil
		for _, m := range st.Media {
			media = append(media, m.ID)
		}
	}
	form := url.Values{"status": {p.Text}, "spoiler_text": {p.ContentWarning}}
	if p.Language != "" {
		form.Set("language", p.Language)
	}
	for i, m := range media {
		form.Add("media_ids[]", m)
		form.Set(fmt.Sprintf("media_attributes[%d][id]", i), m)
		form.Set(fmt.Sprintf("media_attributes[%d][description]", i), p.MediaAlt)
	}
	var out statusJSON
	code, err := c.send(ctx, op, http.MethodPut, "/api/v1/statuses/"+url.PathEscape(id), form, &out)
	if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
		_, found, gerr := c.getStatus(ctx, id)
		if gerr != nil {
			return syndicate.Status{}, gerr
		}
		if !found {
			return syndicate.Status{}, deletedByHand(op, id)
		}
		c.noEdits.Store(true)
		return syndicate.Status{}, fmt.Errorf("%s: %w (the server answered %d to an edit of a status that exists)", op, syndicate.ErrNoEdits, code)
	}
	if code == http.StatusUnprocessableEntity && err != nil && strings.Contains(err.Error(), unchanged) {
		// GoToSocial refuses an edit that changes nothing: the status is
		// this already (an edit sent again after its answer was lost).
		return syndicate.Status{ID: id}, nil
	}
	if err != nil {
		return syndicate.Status{}, err
	}
	return syndicate.Status{ID: out.ID, URL: out.URL}, nil
}

// unchanged is GoToSocial's 422 for an edit that changes nothing
// (Mastodon answers it with the status, as for any edit).
const unchanged = "status was not changed"

func deletedByHand(op, id string) error {
	return fmt.Errorf("%s: %w: the status was deleted by hand (it is no longer on the server)", op, syndicate.ErrRejected)
}

// Delete deletes a status (DELETE /api/v1/statuses/:id); one that is not
// there (404) is deleted already.
func (c *Client) Delete(ctx context.Context, ref syndicate.Ref) error {
	op := "delete status " + ref.ID
	code, err := c.send(ctx, op, http.MethodDelete, "/api/v1/statuses/"+url.PathEscape(ref.ID), nil, nil)
	if code == http.StatusNotFound {
		return nil
	}
	return err
}

// statusJSON is the part of a status Edit and getStatus read.
type statusJSON struct {
	ID    string `json:"id"`
	URL   string `json:"url"`
	Media []struct {
		ID string `json:"id"`
	} `json:"media_attachments"`
}

// getStatus reads one status; found is false on a 404.
func (c *Client) getStatus(ctx context.Context, id string) (statusJSON, bool, error) {
	var st statusJSON
	code, err := c.send(ctx, "read status "+id, http.MethodGet, "/api/v1/statuses/"+url.PathEscape(id), nil, &st)
	if code == http.StatusNotFound {
		return st, false, nil
	}
	return st, err == nil, err
}

// send makes one API call with the token through the client's transport,
// retrying a 5xx or network error; code is the last answer's status (0
// when none came). A 4xx is returned at once, classified.
func (c *Client) send(ctx context.Context, op, method, path string, form url.Values, out any) (int, error) {
	code := 0
	err := c.retry(ctx, op, func(ctx context.Context) error {
		code = 0
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.opts.Server, "/")+path, body)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.opts.Token)
		req.Header.Set("Accept", "application/json")
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		code = resp.StatusCode
		if code < 200 || code > 299 {
			var e struct {
				Error string `json:"error"`
			}
			json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
			return &gomastodon.APIError{StatusCode: code, Message: e.Error}
		}
		if out == nil {
			return nil
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(out); err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		return nil
	})
	return code, err
}
