package bluesky

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// putRecordInput is com.atproto.repo.putRecord's input. SwapRecord is
// always null: "write only if there is no record under this key", which
// makes a repeat of the same record a 200 that writes nothing and a
// different record an InvalidSwap. validate is never sent (the PDS then
// validates the known lexicon; false would skip it).
type putRecordInput struct {
	Repo       string          `json:"repo"`
	Collection string          `json:"collection"`
	Rkey       string          `json:"rkey"`
	Record     json.RawMessage `json:"record"`
	SwapRecord *string         `json:"swapRecord"`
}

// Post writes the planned post under its planned record key, replying to
// parent within the thread whose head is root (both zero for a head
// post; root zero means parent is the head), with the pictures Upload
// returned, or else the post's link card. A repeat of the same planned
// post (after a timeout, a crash, a lost answer) writes nothing and
// answers the same post. When the key already holds a record that is not
// byte for byte this one (the PDS says InvalidSwap), the stored one is
// read: if it is this post (the same text, replying to the same parent)
// it is returned, else the error is syndicate.ErrRejected.
//
// The Status is the record's at:// URI (ID), its CID, and where people see
// it on the web (https://bsky.app/profile/HANDLE/post/RKEY).
func (c *Client) Post(ctx context.Context, p syndicate.PlannedPost, parent, root syndicate.Ref, media []string) (syndicate.Status, error) {
	op := fmt.Sprintf("post %d", p.Index+1)
	if _, err := syntax.ParseTID(p.RecordKey); err != nil {
		return syndicate.Status{}, rejectf(op, "the post was not planned (record key %q: %v): Plan must fix it before the first attempt", p.RecordKey, err)
	}
	s, err := c.sessionFor(ctx, op)
	if err != nil {
		return syndicate.Status{}, err
	}
	if parent, root, err = c.strongRefs(ctx, op, parent, root); err != nil {
		return syndicate.Status{}, err
	}
	rec, err := Record(p, parent, root, media, c.lang)
	if err != nil {
		return syndicate.Status{}, err
	}
	body, err := json.Marshal(putRecordInput{Repo: s.did, Collection: postCollection, Rkey: p.RecordKey, Record: rec})
	if err != nil {
		return syndicate.Status{}, err
	}
	var out struct {
		URI    string           `json:"uri"`
		CID    string           `json:"cid"`
		Commit *json.RawMessage `json:"commit"`
	}
	err = c.call(ctx, op, request{method: http.MethodPost, nsid: "com.atproto.repo.putRecord", ctype: "application/json", body: body}, &out)
	var api *APIError
	if errors.As(err, &api) && api.Name == "InvalidSwap" {
		return c.existing(ctx, op, s, p, parent)
	}
	if err != nil {
		return syndicate.Status{}, err
	}
	if out.Commit == nil {
		c.opts.Logger.Info("bluesky: the post was there already (a repeat wrote nothing)", "post", p.Index+1, "uri", out.URI)
	}
	return c.status(s, out.URI, out.CID)
}

// FindPosted settles a post whose outcome is unknown: a post can only be
// under its planned record key, so it reads that key. found is true when
// the post is there (the same text, replying to the same parent); a
// different post under the key is syndicate.ErrRejected. Since a retry of
// Post cannot make a second post, a caller may also simply post again.
func (c *Client) FindPosted(ctx context.Context, p syndicate.PlannedPost, parent syndicate.Ref, since time.Time) (syndicate.Status, bool, error) {
	op := fmt.Sprintf("find post %d", p.Index+1)
	if _, err := syntax.ParseTID(p.RecordKey); err != nil {
		return syndicate.Status{}, false, nil // never planned here: never sent
	}
	s, err := c.sessionFor(ctx, op)
	if err != nil {
		return syndicate.Status{}, false, err
	}
	got, found, err := c.getPost(ctx, op, s.did, p.RecordKey)
	if err != nil || !found {
		return syndicate.Status{}, false, err
	}
	if err := ours(op, got, p, parent); err != nil {
		return syndicate.Status{}, false, err
	}
	st, err := c.status(s, got.URI, got.CID)
	return st, err == nil, err
}

// sessionFor is the session, made if needed, for the operation op.
func (c *Client) sessionFor(ctx context.Context, op string) (session, error) {
	var s session
	err := c.retry(ctx, op, func(ctx context.Context) error {
		var err error
		s, err = c.current(ctx)
		return err
	})
	return s, err
}

// existing is the post stored under p's key, which is not the record
// just sent byte for byte.
func (c *Client) existing(ctx context.Context, op string, s session, p syndicate.PlannedPost, parent syndicate.Ref) (syndicate.Status, error) {
	got, found, err := c.getPost(ctx, op, s.did, p.RecordKey)
	if err != nil {
		return syndicate.Status{}, err
	}
	if !found {
		// Deleted since the swap failed: a retry writes it again.
		return syndicate.Status{}, fmt.Errorf("bluesky: %s: the PDS said record key %s was taken, then had no record there", op, p.RecordKey)
	}
	if err := ours(op, got, p, parent); err != nil {
		return syndicate.Status{}, err
	}
	c.opts.Logger.Warn("bluesky: the post's key holds this post written otherwise (another createdAt, embed or facets); taking it as posted",
		"post", p.Index+1, "uri", got.URI, "cid", got.CID)
	return c.status(s, got.URI, got.CID)
}

// storedPost is a post record as getRecord answers it.
type storedPost struct {
	URI   string `json:"uri"`
	CID   string `json:"cid"`
	Value struct {
		Text  string `json:"text"`
		Reply *struct {
			Parent struct {
				URI string `json:"uri"`
			} `json:"parent"`
		} `json:"reply"`
	} `json:"value"`
}

// ours checks that a stored post is the planned one: the same text as
// rendered, replying to the same post.
func ours(op string, got storedPost, p syndicate.PlannedPost, parent syndicate.Ref) error {
	visible, _ := Render(p.Text)
	gotParent := ""
	if got.Value.Reply != nil {
		gotParent = got.Value.Reply.Parent.URI
	}
	if got.Value.Text != visible || gotParent != parent.ID {
		return rejectf(op, "record key %s already holds a different post (%s, CID %s), not this one", p.RecordKey, got.URI, got.CID)
	}
	return nil
}

// getPost reads the post under rkey in repo; found is false when there
// is none (the PDS answers 400 RecordNotFound).
func (c *Client) getPost(ctx context.Context, op, repo, rkey string) (storedPost, bool, error) {
	var got storedPost
	q := url.Values{"repo": {repo}, "collection": {postCollection}, "rkey": {rkey}}
	err := c.call(ctx, op, request{method: http.MethodGet, nsid: "com.atproto.repo.getRecord", query: q}, &got)
	var api *APIError
	if errors.As(err, &api) && api.Name == "RecordNotFound" {
		return storedPost{}, false, nil
	}
	if err != nil {
		return storedPost{}, false, err
	}
	return got, true, nil
}

// strongRefs fills in the CIDs the refs lack (a ledger that kept only
// the URIs) by reading the posts; the CID of a post never written again
// does not change, so a retry names the same ones.
func (c *Client) strongRefs(ctx context.Context, op string, parent, root syndicate.Ref) (syndicate.Ref, syndicate.Ref, error) {
	fill := func(r syndicate.Ref) (syndicate.Ref, error) {
		if r.ID == "" || r.CID != "" {
			return r, nil
		}
		u, err := syntax.ParseATURI(r.ID)
		if err != nil || u.Collection() != postCollection || u.RecordKey() == "" {
			return r, rejectf(op, "the post it replies to, %q, is not the at:// URI of a post", r.ID)
		}
		got, found, err := c.getPost(ctx, op, u.Authority().String(), u.RecordKey().String())
		if err != nil {
			return r, err
		}
		if !found {
			return r, rejectf(op, "the post it replies to, %s, does not exist", r.ID)
		}
		r.CID = got.CID
		return r, nil
	}
	var err error
	if parent, err = fill(parent); err != nil {
		return parent, root, err
	}
	if root.ID == parent.ID && root.CID == "" {
		root.CID = parent.CID
	}
	root, err = fill(root)
	return parent, root, err
}

// status is the Status of the record uri with cid.
func (c *Client) status(s session, uri, cid string) (syndicate.Status, error) {
	u, err := syntax.ParseATURI(uri)
	if err != nil || u.RecordKey() == "" {
		return syndicate.Status{}, fmt.Errorf("bluesky: the PDS answered the record URI %q", clean(uri, 200))
	}
	if _, err := syntax.ParseCID(cid); err != nil {
		return syndicate.Status{}, fmt.Errorf("bluesky: the PDS answered the CID %q", clean(cid, 200))
	}
	who := s.handle
	if _, err := syntax.ParseHandle(who); err != nil || strings.EqualFold(who, "handle.invalid") {
		who = s.did
	}
	return syndicate.Status{
		ID:  uri,
		CID: cid,
		URL: c.web + "/profile/" + url.PathEscape(who) + "/post/" + url.PathEscape(u.RecordKey().String()),
	}, nil
}
