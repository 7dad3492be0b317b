// Package mastotest is a Mastodon API server for tests, over real HTTP.
// It enforces the documented rules the bot depends on — length counted in
// grapheme clusters with URLs as 23 and remote mentions as the local part
// (422 past the limit), 404 for an unknown reply target, Idempotency-Key
// replay, X-RateLimit-* headers and 429 bursts, media 202 → 206 → 200,
// 401 for a bad token — and injects faults: a response dropped after the
// post was created, a 503 without creating, a stall past the client's
// timeout. Edits (PUT, with a public history) and deletes of statuses are
// as documented (see edits.go). Its length counter is written
// independently of the bot's.
package mastotest

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rivo/uniseg"
)

// Status is a post the server holds.
type Status struct {
	ID          string
	InReplyToID string
	Text        string
	SpoilerText string
	Visibility  string
	Language    string
	MediaIDs    []string
	CreatedAt   time.Time
	Key         string // the Idempotency-Key it was created with
	// EditedAt is the last edit's time (zero: never edited); Edits how
	// many changed it (an edit that changes nothing is not one).
	EditedAt time.Time
	Edits    int
}

// Settings are the server's rules; change them with Server.Set.
type Settings struct {
	Token         string
	MaxCharacters int // 500
	URLLength     int // 23
	// NoV2Instance answers 404 on /api/v2/instance, as an old server does.
	NoV2Instance bool
	// NoEdits answers PUT /api/v1/statuses/:id with 404, as a server
	// without editing does (Mastodon before 3.5, GoToSocial before it
	// had edits): the route does not exist.
	NoEdits bool
	// MediaPolls is how many GET /api/v1/media/:id answer 206 before 200.
	MediaPolls int
	// KeyTTL is how long an idempotency key is remembered (an hour).
	KeyTTL time.Duration
	// ImageSizeLimit and ImageTypes are what uploads are held to, and what
	// /api/v2/instance says (16 MB and Mastodon's image types).
	ImageSizeLimit int
	ImageTypes     []string
	// Software is what NodeInfo says the server is ("mastodon"); "" serves
	// no NodeInfo. NodeInfoHref, when set, is where the well-known
	// document points instead of the server's own /nodeinfo/2.0.
	Software     string
	NodeInfoHref string
}

// Server is the test server. Its settings and faults may be changed at
// any time, from any goroutine.
type Server struct {
	*httptest.Server

	mu          sync.Mutex
	set         Settings
	statuses    []*Status
	byID        map[string]*Status
	keys        map[string]keyEntry
	media       map[string]*media
	nextID      int
	requests    int
	fail503     int
	dropAfter   int
	stallNext   time.Duration
	stallCount  int
	rate        rateState
	onCreate    func(Status)
	postedCount int
	// edits (edits.go)
	history  map[string][]Version
	deleted  []Status
	onEdit   func(Status)
	onDelete func(Status)
}

type keyEntry struct {
	id string
	at time.Time
}

type media struct {
	id          string
	description string
	polls       int
	size        int
	name, typ   string // the upload's file name and its sniffed type
}

type rateState struct {
	burst int // 429s still to answer
	reset time.Time
}

// New starts a server that accepts token.
func New(token string) *Server {
	s := &Server{
		set: Settings{Token: token, MaxCharacters: 500, URLLength: 23, KeyTTL: time.Hour,
			Software: "mastodon", ImageSizeLimit: 16 << 20, ImageTypes: []string{"image/jpeg", "image/png", "image/gif", "image/heic", "image/heif", "image/webp", "image/avif"}},
		byID: map[string]*Status{}, keys: map[string]keyEntry{}, media: map[string]*media{}, nextID: 100000,
		history: map[string][]Version{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// Set changes the server's settings.
func (s *Server) Set(f func(*Settings)) { s.mu.Lock(); f(&s.set); s.mu.Unlock() }

func (s *Server) settings() Settings { s.mu.Lock(); defer s.mu.Unlock(); return s.set }

// ---- faults and hooks ----

// Fail503 makes the next n POST /api/v1/statuses answer 503 without
// creating anything.
func (s *Server) Fail503(n int) { s.mu.Lock(); s.fail503 = n; s.mu.Unlock() }

// DropAfterCreate makes the next n POST /api/v1/statuses create the post
// and then close the connection without answering.
func (s *Server) DropAfterCreate(n int) { s.mu.Lock(); s.dropAfter = n; s.mu.Unlock() }

// Stall makes the next n POST /api/v1/statuses wait d before creating the
// post and answering (past a client's timeout, the client gives up while
// the post is created anyway).
func (s *Server) Stall(n int, d time.Duration) {
	s.mu.Lock()
	s.stallCount, s.stallNext = n, d
	s.mu.Unlock()
}

// RateLimitBurst makes the next n requests answer 429 until reset.
func (s *Server) RateLimitBurst(n int, reset time.Time) {
	s.mu.Lock()
	s.rate = rateState{burst: n, reset: reset}
	s.mu.Unlock()
}

// ExpireKeys forgets every idempotency key, as an hour passing would.
func (s *Server) ExpireKeys() { s.mu.Lock(); s.keys = map[string]keyEntry{}; s.mu.Unlock() }

// OnCreate calls f (outside the lock, before the response is written)
// each time a status is created: a test can kill the client there.
func (s *Server) OnCreate(f func(Status)) { s.mu.Lock(); s.onCreate = f; s.mu.Unlock() }

// ---- inspection ----

// Statuses returns the posts in the order they were created.
func (s *Server) Statuses() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, len(s.statuses))
	for i, st := range s.statuses {
		out[i] = *st
	}
	return out
}

// Requests is the number of API requests answered or dropped.
func (s *Server) Requests() int { s.mu.Lock(); defer s.mu.Unlock(); return s.requests }

// Threads groups the statuses into chains from each head (a status that
// replies to nothing), following replies; it reports an error when a
// reply's target is missing, a status has two replies, or text repeats
// within the account.
func (s *Server) Threads() ([][]Status, error) {
	all := s.Statuses()
	children := map[string][]Status{}
	var heads []Status
	seen := map[string]string{}
	for _, st := range all {
		key := st.InReplyToID + "\x00" + st.Text
		if other, dup := seen[key]; dup {
			return nil, fmt.Errorf("status %s duplicates %s: %q", st.ID, other, st.Text)
		}
		seen[key] = st.ID
		if st.InReplyToID == "" {
			heads = append(heads, st)
		} else {
			children[st.InReplyToID] = append(children[st.InReplyToID], st)
		}
	}
	var out [][]Status
	count := 0
	for _, h := range heads {
		chain := []Status{h}
		for cur := h; ; {
			next := children[cur.ID]
			if len(next) == 0 {
				break
			}
			if len(next) > 1 {
				return nil, fmt.Errorf("status %s has %d replies: the chain forks", cur.ID, len(next))
			}
			chain = append(chain, next[0])
			cur = next[0]
		}
		count += len(chain)
		out = append(out, chain)
	}
	if count != len(all) {
		return nil, fmt.Errorf("%d statuses are not in any chain from a head post", len(all)-count)
	}
	return out, nil
}

// ---- the API ----

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	now := time.Now()
	limitHeaders(w, s.rate, now)
	if s.rate.burst > 0 && now.Before(s.rate.reset) {
		s.rate.burst--
		s.mu.Unlock()
		writeError(w, http.StatusTooManyRequests, "Too many requests")
		return
	}
	set := s.set
	s.mu.Unlock()

	// NodeInfo is public: the bot learns the server's software from it.
	switch r.URL.Path {
	case "/.well-known/nodeinfo":
		if set.Software == "" {
			writeError(w, http.StatusNotFound, "Not found")
			return
		}
		href := s.URL + "/nodeinfo/2.0"
		if set.NodeInfoHref != "" {
			href = set.NodeInfoHref
		}
		writeJSON(w, http.StatusOK, map[string]any{"links": []map[string]string{{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0", "href": href}}})
		return
	case "/nodeinfo/2.0":
		writeJSON(w, http.StatusOK, map[string]any{"version": "2.0", "software": map[string]string{"name": set.Software, "version": "4.3.0"}})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+set.Token {
		writeError(w, http.StatusUnauthorized, "The access token is invalid")
		return
	}
	path := r.URL.Path
	switch {
	case r.Method == http.MethodGet && path == "/api/v2/instance":
		if set.NoV2Instance {
			writeError(w, http.StatusNotFound, "Record not found")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"configuration": map[string]any{
			"statuses": map[string]any{"max_characters": set.MaxCharacters, "max_media_attachments": 4, "characters_reserved_per_url": set.URLLength},
			"media_attachments": map[string]any{"description_limit": 1500, "image_size_limit": set.ImageSizeLimit,
				"supported_mime_types": append(append([]string{}, set.ImageTypes...), "video/mp4", "audio/mpeg")},
		}})
	case r.Method == http.MethodGet && path == "/api/v1/instance":
		writeJSON(w, http.StatusOK, map[string]any{"configuration": map[string]any{
			"statuses": map[string]any{"max_characters": set.MaxCharacters, "max_media_attachments": 4, "characters_reserved_per_url": set.URLLength},
		}})
	case r.Method == http.MethodGet && path == "/api/v1/accounts/verify_credentials":
		writeJSON(w, http.StatusOK, account())
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/api/v1/accounts/") && strings.HasSuffix(path, "/statuses"):
		s.accountStatuses(w, r)
	case r.Method == http.MethodPost && path == "/api/v1/statuses":
		s.createStatus(w, r)
	case r.Method == http.MethodPut && strings.HasPrefix(path, "/api/v1/statuses/"):
		s.editStatus(w, r, strings.TrimPrefix(path, "/api/v1/statuses/"))
	case r.Method == http.MethodDelete && strings.HasPrefix(path, "/api/v1/statuses/"):
		s.deleteStatus(w, strings.TrimPrefix(path, "/api/v1/statuses/"))
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/api/v1/statuses/"):
		s.getStatus(w, strings.TrimPrefix(path, "/api/v1/statuses/"))
	case r.Method == http.MethodPost && path == "/api/v2/media":
		s.uploadMedia(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/api/v1/media/"):
		s.getMedia(w, strings.TrimPrefix(path, "/api/v1/media/"))
	default:
		writeError(w, http.StatusNotFound, "Record not found")
	}
}

func (s *Server) createStatus(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	key := r.Header.Get("Idempotency-Key")
	set := s.settings()
	s.mu.Lock()
	if s.fail503 > 0 {
		s.fail503--
		s.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	if key != "" {
		if e, ok := s.keys[key]; ok && time.Since(e.at) < set.KeyTTL {
			st := s.byID[e.id]
			s.mu.Unlock()
			writeJSON(w, http.StatusOK, statusJSON(st, s.URL))
			return
		}
	}
	stall := time.Duration(0)
	if s.stallCount > 0 {
		s.stallCount--
		stall = s.stallNext
	}
	s.mu.Unlock()
	if stall > 0 {
		time.Sleep(stall)
	}

	text, spoiler := r.PostForm.Get("status"), r.PostForm.Get("spoiler_text")
	mediaIDs := r.PostForm["media_ids[]"]
	if strings.TrimSpace(text) == "" && len(mediaIDs) == 0 {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: Text can't be blank")
		return
	}
	if n := Length(spoiler, text, set.URLLength); n > set.MaxCharacters {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Validation failed: Text character limit of %d exceeded", set.MaxCharacters))
		return
	}
	vis := r.PostForm.Get("visibility")
	switch vis {
	case "", "public", "unlisted", "private", "direct":
	default:
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: Visibility is not included in the list")
		return
	}
	s.mu.Lock()
	reply := r.PostForm.Get("in_reply_to_id")
	if reply != "" && s.byID[reply] == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "The post you are trying to reply to does not appear to exist.")
		return
	}
	for _, id := range mediaIDs {
		m := s.media[id]
		if m == nil {
			s.mu.Unlock()
			writeError(w, http.StatusUnprocessableEntity, "Validation failed: Media attachments are invalid")
			return
		}
		if m.polls < set.MediaPolls {
			s.mu.Unlock()
			writeError(w, http.StatusUnprocessableEntity, "Cannot attach files that have not finished processing. Try again in a moment!")
			return
		}
	}
	s.nextID++
	st := &Status{
		ID: strconv.Itoa(s.nextID), InReplyToID: reply, Text: text, SpoilerText: spoiler, Visibility: vis,
		Language: r.PostForm.Get("language"), MediaIDs: mediaIDs, CreatedAt: time.Now().UTC(), Key: key,
	}
	s.statuses = append(s.statuses, st)
	s.byID[st.ID] = st
	if key != "" {
		s.keys[key] = keyEntry{id: st.ID, at: time.Now()}
	}
	drop := false
	if s.dropAfter > 0 {
		s.dropAfter--
		drop = true
	}
	hook := s.onCreate
	s.mu.Unlock()
	if hook != nil {
		hook(*st)
	}
	if drop {
		dropConnection(w)
		return
	}
	writeJSON(w, http.StatusOK, statusJSON(st, s.URL))
}

func (s *Server) accountStatuses(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 40 {
		limit = 20
	}
	maxID, _ := strconv.Atoi(r.URL.Query().Get("max_id"))
	s.mu.Lock()
	var page []map[string]any
	lastID := ""
	for i := len(s.statuses) - 1; i >= 0 && len(page) < limit; i-- {
		st := s.statuses[i]
		id, _ := strconv.Atoi(st.ID)
		if maxID > 0 && id >= maxID {
			continue
		}
		page = append(page, statusJSON(st, s.URL))
		lastID = st.ID
	}
	s.mu.Unlock()
	if len(page) == limit && lastID != "" {
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?limit=%d&max_id=%s>; rel="next"`, s.URL, r.URL.Path, limit, lastID))
	}
	if page == nil {
		page = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) uploadMedia(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: File can't be blank")
		return
	}
	f, fh, err := r.FormFile("file")
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: File can't be blank")
		return
	}
	data, _ := io.ReadAll(f)
	f.Close()
	set := s.settings()
	// Like Mastodon, the type is the content's, not the name's.
	typ := http.DetectContentType(data)
	if !contains(set.ImageTypes, typ) {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: File content type is invalid, File is invalid")
		return
	}
	if len(data) > set.ImageSizeLimit {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Validation failed: File file size must be less than %d Bytes", set.ImageSizeLimit))
		return
	}
	desc := r.FormValue("description")
	if uniseg.GraphemeClusterCount(desc) > 1500 {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: Description is too long (maximum is 1500 characters)")
		return
	}
	s.mu.Lock()
	s.nextID++
	m := &media{id: strconv.Itoa(s.nextID), description: desc, size: len(data), name: fh.Filename, typ: typ}
	s.media[m.id] = m
	ready := s.set.MediaPolls == 0
	s.mu.Unlock()
	if ready {
		writeJSON(w, http.StatusOK, mediaJSON(m, s.URL, true))
		return
	}
	writeJSON(w, http.StatusAccepted, mediaJSON(m, s.URL, false))
}

func (s *Server) getMedia(w http.ResponseWriter, id string) {
	s.mu.Lock()
	m := s.media[id]
	if m == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "Record not found")
		return
	}
	m.polls++
	ready := m.polls >= s.set.MediaPolls
	s.mu.Unlock()
	if !ready {
		writeJSON(w, http.StatusPartialContent, mediaJSON(m, s.URL, false))
		return
	}
	writeJSON(w, http.StatusOK, mediaJSON(m, s.URL, true))
}

// Upload is what the server received for one media upload.
type Upload struct {
	Description string
	FileName    string // as the client named it
	Type        string // sniffed from the content
	Size        int
}

// Uploads returns every upload, in the order received.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []int
	for id := range s.media {
		n, _ := strconv.Atoi(id)
		ids = append(ids, n)
	}
	sort.Ints(ids)
	var out []Upload
	for _, id := range ids {
		m := s.media[strconv.Itoa(id)]
		out = append(out, Upload{Description: m.description, FileName: m.name, Type: m.typ, Size: m.size})
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// MediaDescription returns the alt text an upload was given.
func (s *Server) MediaDescription(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.media[id]; m != nil {
		return m.description
	}
	return ""
}

func account() map[string]any {
	return map[string]any{"id": "42", "username": "newsbot", "acct": "newsbot", "display_name": "News Bot", "bot": true}
}

func statusJSON(st *Status, base string) map[string]any {
	var reply any
	if st.InReplyToID != "" {
		reply = st.InReplyToID
	}
	attachments := []map[string]any{}
	for _, id := range st.MediaIDs {
		attachments = append(attachments, map[string]any{"id": id, "type": "image", "url": base + "/media/" + id})
	}
	return map[string]any{
		"id": st.ID, "uri": base + "/users/newsbot/statuses/" + st.ID, "url": base + "/@newsbot/" + st.ID,
		"account": account(), "in_reply_to_id": reply, "content": render(st.Text), "spoiler_text": st.SpoilerText,
		"visibility": st.Visibility, "language": st.Language, "created_at": st.CreatedAt.Format(time.RFC3339Nano),
		"media_attachments": attachments, "edited_at": editedAt(st),
	}
}

// render formats text as Mastodon does: paragraphs, line breaks, links.
func render(text string) string {
	var paras []string
	for _, p := range strings.Split(text, "\n\n") {
		esc := html.EscapeString(p)
		esc = urlRe.ReplaceAllStringFunc(esc, func(u string) string {
			scheme, rest, _ := strings.Cut(u, "://")
			return `<a href="` + u + `" rel="nofollow noopener" target="_blank"><span class="invisible">` + scheme + `://</span><span class="">` + rest + `</span></a>`
		})
		paras = append(paras, "<p>"+strings.ReplaceAll(esc, "\n", "<br />")+"</p>")
	}
	return strings.Join(paras, "")
}

func mediaJSON(m *media, base string, ready bool) map[string]any {
	var url any
	if ready {
		url = base + "/media/" + m.id
	}
	return map[string]any{"id": m.id, "type": "image", "url": url, "description": m.description}
}

func limitHeaders(w http.ResponseWriter, rs rateState, now time.Time) {
	reset := rs.reset
	if reset.Before(now) {
		reset = now.Add(5 * time.Minute)
	}
	remaining := 299
	if rs.burst > 0 {
		remaining = 0
	}
	w.Header().Set("X-RateLimit-Limit", "300")
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	w.Header().Set("X-RateLimit-Reset", reset.UTC().Format("2006-01-02T15:04:05.000Z"))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// dropConnection closes the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("mastotest: cannot drop the connection")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		conn.Close()
	}
}

// ---- length, counted independently of the bot's counter ----

var (
	urlRe     = regexp.MustCompile(`(?i)(?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://[^\s<>"]+`)
	mentionRe = regexp.MustCompile(`(?i)@([a-z0-9_]+)@[a-z0-9.\-]+[a-z0-9]`)
)

// Length counts like Mastodon's StatusLengthValidator: grapheme clusters
// of spoiler text + text, each URL as urlLength, @user@domain as @user.
func Length(spoiler, text string, urlLength int) int {
	text = urlRe.ReplaceAllStringFunc(text, func(u string) string {
		trimmed := strings.TrimRightFunc(u, func(r rune) bool { return strings.ContainsRune(".,:;!?'*)", r) })
		// A closing parenthesis that balances one in the URL is part of it.
		for strings.HasPrefix(u[len(trimmed):], ")") && strings.Count(trimmed, "(") > strings.Count(trimmed, ")") {
			trimmed += ")"
		}
		return strings.Repeat("x", urlLength) + u[len(trimmed):]
	})
	text = mentionRe.ReplaceAllString(text, "@$1")
	return uniseg.GraphemeClusterCount(spoiler + text)
}
