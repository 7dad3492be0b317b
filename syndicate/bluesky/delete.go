package bluesky

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/syndicate-bot/syndicate/syndicate"
)

var _ syndicate.Deleter = (*Client)(nil)

// Delete deletes a post's record (com.atproto.repo.deleteRecord). A
// record that is not there is deleted already: the PDS answers that as a
// delete that wrote nothing. Bluesky has no edits: a changed post gets a
// reply instead (the post job composes it).
func (c *Client) Delete(ctx context.Context, ref syndicate.Ref) error {
	op := "delete " + ref.ID
	u, err := syntax.ParseATURI(ref.ID)
	if err != nil || u.Collection() != postCollection || u.RecordKey() == "" {
		return rejectf(op, "%q is not the at:// URI of a post", clean(ref.ID, 200))
	}
	s, err := c.sessionFor(ctx, op)
	if err != nil {
		return err
	}
	if u.Authority().String() != s.did {
		return rejectf(op, "the post is not this account's (%s)", s.did)
	}
	body, err := json.Marshal(map[string]string{"repo": s.did, "collection": postCollection, "rkey": u.RecordKey().String()})
	if err != nil {
		return err
	}
	var out json.RawMessage
	err = c.call(ctx, op, request{method: http.MethodPost, nsid: "com.atproto.repo.deleteRecord", ctype: "application/json", body: body}, &out)
	var api *APIError
	if errors.As(err, &api) && api.Name == "RecordNotFound" {
		return nil
	}
	return err
}
