package unsubscribe

import (
	"context"
	"errors"
	htmltemplate "html/template"
	"log/slog"
	"mime"
	"net/http"
)

// Store records unsubscribes.
type Store interface {
	Unsubscribe(ctx context.Context, email string) error
}

// Handler serves the one-click unsubscribe endpoint (RFC 8058):
// POST ?token=… with the body List-Unsubscribe=One-Click records the
// unsubscribe and answers 200; GET shows a page with a button that makes
// that POST, so a link scanner that follows the link unsubscribes nobody.
// A malformed token gets 400, a forged one 403, and nothing changes.
type Handler struct {
	Secret []byte
	List   string
	Store  Store
	Log    *slog.Logger
}

var page = htmltemplate.Must(htmltemplate.New("unsubscribe").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font:16px/1.5 -apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1f2328}
button{font:inherit;padding:.5rem 1.2rem;border-radius:6px;border:1px solid #1f2328;background:#1f2328;color:#fff;cursor:pointer}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Text}}</p>
{{if .Form}}<form method="post" action="?token={{.Token}}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>{{end}}
</body></html>
`))

type pageData struct {
	Title, Text, Token string
	Form               bool
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	email, err := Verify(h.Secret, h.List, token)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ErrForged) {
			code = http.StatusForbidden
		}
		h.Log.Warn("unsubscribe refused", "status", code, "err", err)
		h.render(w, code, pageData{Title: "This link does not work", Text: "The unsubscribe link is not valid. Use the link in the newest email you received."})
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.render(w, http.StatusOK, pageData{Title: "Unsubscribe", Text: "Stop sending the digest to " + email + "?", Token: token, Form: true})
	case http.MethodPost:
		// RFC 8058 3.1: the POST SHOULD be multipart/form-data and MAY be
		// urlencoded; mail providers send either.
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		var err error
		if mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mediaType == "multipart/form-data" {
			err = r.ParseMultipartForm(4096)
		} else {
			err = r.ParseForm()
		}
		if err != nil || r.PostForm.Get("List-Unsubscribe") != "One-Click" {
			h.render(w, http.StatusBadRequest, pageData{Title: "Unsubscribe", Text: "The request lacks List-Unsubscribe=One-Click."})
			return
		}
		if err := h.Store.Unsubscribe(r.Context(), email); err != nil {
			h.Log.Error("recording an unsubscribe", "err", err)
			h.render(w, http.StatusInternalServerError, pageData{Title: "Please try again", Text: "The unsubscribe could not be recorded just now."})
			return
		}
		h.Log.Info("unsubscribed", "reader", email)
		h.render(w, http.StatusOK, pageData{Title: "Unsubscribed", Text: email + " will get no more digests."})
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (h *Handler) render(w http.ResponseWriter, code int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	page.Execute(w, d)
}
