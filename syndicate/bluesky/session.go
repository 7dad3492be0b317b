package bluesky

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// session is a logged-in session: its tokens (secrets: never logged) and
// the account they are for.
type session struct {
	access, refresh string
	did, handle     string
}

// sessionAnswer is what createSession and refreshSession answer.
type sessionAnswer struct {
	AccessJwt  string `json:"accessJwt"`
	RefreshJwt string `json:"refreshJwt"`
	Handle     string `json:"handle"`
	DID        string `json:"did"`
	Active     *bool  `json:"active"`
	Status     string `json:"status"`
}

func (a sessionAnswer) session() (session, error) {
	if a.AccessJwt == "" || a.RefreshJwt == "" {
		return session{}, errors.New("the PDS answered without tokens")
	}
	if _, err := syntax.ParseDID(a.DID); err != nil {
		return session{}, fmt.Errorf("the PDS answered with the DID %q: %v", clean(a.DID, 100), err)
	}
	if a.Active != nil && !*a.Active {
		st := a.Status
		if st == "" {
			st = "inactive"
		}
		return session{}, &APIError{Status: http.StatusUnauthorized, Name: "AccountInactive", Message: "the account is " + clean(st, 50)}
	}
	return session{access: a.AccessJwt, refresh: a.RefreshJwt, did: a.DID, handle: a.Handle}, nil
}

// current is the session, logging in first if there is none.
func (c *Client) current(ctx context.Context) (session, error) {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s.access != "" {
		return s, nil
	}
	return c.renew(ctx, session{}, false)
}

// renew replaces the session old, which the PDS refused: by refreshing
// it (refresh: its access token expired), or, when there is nothing to
// refresh or the refresh is refused too, by logging in again. A session
// another call renewed meanwhile is taken as it is.
func (c *Client) renew(ctx context.Context, old session, refresh bool) (session, error) {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	c.mu.Lock()
	cur := c.sess
	c.mu.Unlock()
	if cur.access != "" && cur.access != old.access {
		return cur, nil
	}
	if refresh && cur.refresh != "" {
		var a sessionAnswer
		err := c.send(ctx, request{method: http.MethodPost, nsid: "com.atproto.server.refreshSession", token: cur.refresh}, &a)
		if err == nil {
			s, err := a.session()
			if err != nil {
				return session{}, fmt.Errorf("refresh the session: %w", err)
			}
			if s.handle == "" {
				s.handle = cur.handle
			}
			c.set(s)
			c.opts.Logger.Info("bluesky: session refreshed", "did", s.did)
			return s, nil
		}
		if !refused(err) {
			return session{}, fmt.Errorf("refresh the session: %w", err)
		}
		c.opts.Logger.Info("bluesky: the PDS refused the session's refresh; logging in again", "err", err)
	}
	in, err := json.Marshal(map[string]string{"identifier": c.opts.Handle, "password": c.opts.AppPassword})
	if err != nil {
		return session{}, err
	}
	var a sessionAnswer
	if err := c.send(ctx, request{method: http.MethodPost, nsid: "com.atproto.server.createSession", ctype: "application/json", body: in}, &a); err != nil {
		return session{}, fmt.Errorf("log in as %s: %w", c.opts.Handle, err)
	}
	s, err := a.session()
	if err != nil {
		return session{}, fmt.Errorf("log in as %s: %w", c.opts.Handle, err)
	}
	if s.handle == "" {
		s.handle = c.opts.Handle
	}
	c.set(s)
	c.opts.Logger.Info("bluesky: logged in", "handle", s.handle, "did", s.did, "service", c.service)
	return s, nil
}

func (c *Client) set(s session) {
	c.mu.Lock()
	c.sess = s
	c.mu.Unlock()
}

// refused reports whether the PDS refused a session: 401, or 400
// ExpiredToken or InvalidToken (an expired token is a 400, not a 401).
func refused(err error) bool {
	var api *APIError
	if !errors.As(err, &api) {
		return false
	}
	return api.Status == http.StatusUnauthorized || (api.Status == http.StatusBadRequest && sessionErrors[api.Name])
}

func expired(err error) bool {
	var api *APIError
	return errors.As(err, &api) && api.Name == "ExpiredToken"
}

// call makes an authenticated XRPC call with the retries: the session is
// made on the first call, refreshed when the PDS says its access token
// expired, and made anew when the refresh is refused or the token is not
// taken; a refusal after that is syndicate.ErrUnauthorized.
func (c *Client) call(ctx context.Context, op string, r request, out any) error {
	return c.retry(ctx, op, func(ctx context.Context) error {
		s, err := c.current(ctx)
		if err != nil {
			return err
		}
		r.token = s.access
		err = c.send(ctx, r, out)
		if !refused(err) {
			return err
		}
		if s, err = c.renew(ctx, s, expired(err)); err != nil {
			return err
		}
		r.token = s.access
		return c.send(ctx, r, out)
	})
}

// Session returns the account's DID and handle, logging in if needed.
func (c *Client) Session(ctx context.Context) (did, handle string, err error) {
	err = c.retry(ctx, "session", func(ctx context.Context) error {
		s, err := c.current(ctx)
		did, handle = s.did, s.handle
		return err
	})
	return did, handle, err
}
