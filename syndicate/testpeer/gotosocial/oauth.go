package gotosocial

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

// OOB is the out-of-band redirect URI: the server shows the authorization code instead of redirecting.
const OOB = "urn:ietf:wg:oauth:2.0:oob"

// token gets an access token with scopes "read write" for the user through the authorization-code flow,
// the way a person would with a browser: register an app, open the authorize page, sign in with the form,
// approve, read the code from the out-of-band redirect, exchange it for a token.
func (s *Server) token(email, password string) (string, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return "", err
	}
	c := &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		// Every redirect is one step of the flow, checked below.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	const scopes = "read write"

	var app struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := s.formJSON(c, "/api/v1/apps", url.Values{
		"client_name":   {"syndicate-e2e"},
		"redirect_uris": {OOB},
		"scopes":        {scopes},
		"website":       {"https://example.org/syndicate"},
	}, &app); err != nil {
		return "", fmt.Errorf("registering the app: %w", err)
	}

	q := url.Values{
		"client_id":     {app.ClientID},
		"redirect_uri":  {OOB},
		"response_type": {"code"},
		"scope":         {scopes},
	}
	loc, err := s.htmlStep(c, http.MethodGet, "/oauth/authorize?"+q.Encode(), nil, "/auth/sign_in")
	if err != nil {
		return "", err
	}
	if loc, err = s.htmlStep(c, http.MethodPost, loc, url.Values{"username": {email}, "password": {password}}, "/oauth/authorize"); err != nil {
		return "", err
	}
	// The authorize page (what the person would read before approving).
	if _, err := s.htmlStep(c, http.MethodGet, loc, nil, ""); err != nil {
		return "", err
	}
	if loc, err = s.htmlStep(c, http.MethodPost, "/oauth/authorize", url.Values{}, "/oauth/oob"); err != nil {
		return "", err
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	code := u.Query().Get("code")
	if code == "" {
		return "", fmt.Errorf("no code in the out-of-band redirect %q", loc)
	}

	var tok struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
	}
	if err := s.formJSON(c, "/oauth/token", url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"client_id":     {app.ClientID},
		"client_secret": {app.ClientSecret},
		"redirect_uri":  {OOB},
		"scope":         {scopes},
	}, &tok); err != nil {
		return "", fmt.Errorf("exchanging the code: %w", err)
	}
	if tok.AccessToken == "" {
		return "", fmt.Errorf("no access_token from /oauth/token")
	}
	return tok.AccessToken, nil
}

// htmlStep makes one browser-like request of the sign-in flow. With wantPrefix set it expects a redirect
// whose path starts with it and returns the Location; otherwise it expects a 200 page.
func (s *Server) htmlStep(c *http.Client, method, path string, form url.Values, wantPrefix string) (string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	if strings.HasPrefix(path, "/") {
		path = s.URL + path
	}
	req, err := http.NewRequest(method, path, body)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if wantPrefix == "" {
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s %s: %s\n%s", method, path, resp.Status, page)
		}
		return "", nil
	}
	loc := resp.Header.Get("Location")
	u, err := url.Parse(loc)
	if resp.StatusCode/100 != 3 || err != nil || !strings.HasPrefix(u.Path, wantPrefix) {
		return "", fmt.Errorf("%s %s: %s, Location %q, want a redirect to %s\n%s", method, path, resp.Status, loc, wantPrefix, page)
	}
	return loc, nil
}

// formJSON POSTs a form and decodes a 200 JSON answer.
func (s *Server) formJSON(c *http.Client, path string, form url.Values, v any) error {
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

func (s *Server) verifyCredentials(token string) (string, error) {
	var acct struct {
		ID string `json:"id"`
	}
	if err := s.getJSON(token, "/api/v1/accounts/verify_credentials", &acct, nil); err != nil {
		return "", fmt.Errorf("verify_credentials: %w", err)
	}
	if acct.ID == "" {
		return "", fmt.Errorf("verify_credentials: no account id")
	}
	return acct.ID, nil
}

// getJSON GETs path with the bearer token and decodes a 200 JSON answer; hdr, when not nil, receives the
// response headers.
func (s *Server) getJSON(token, path string, v any, hdr *http.Header) error {
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusNotFound {
		return notFound{path}
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	if hdr != nil {
		*hdr = resp.Header
	}
	return json.Unmarshal(b, v)
}
