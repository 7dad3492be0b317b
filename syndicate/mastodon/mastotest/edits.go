package mastotest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Edits and deletes, as Mastodon documents them:
//   - PUT /api/v1/statuses/:id (status, spoiler_text, language, media_ids[],
//     media_attributes[][id|description]) replaces the text and media and
//     keeps the status's ID, place in its thread, replies and boosts; the
//     version before is kept in a public history. The length rules of a
//     new status apply (422). An edit that changes nothing is answered
//     with the status and adds no version. An unknown or deleted status is
//     404.
//   - DELETE /api/v1/statuses/:id removes the status and answers with it
//     (its source text, for "delete and redraft"); its replies stay, now
//     replying to a status that is gone. An unknown one is 404.
//   - GET /api/v1/statuses/:id answers a status that exists, else 404.

// Version is a status as it was before an edit.
type Version struct {
	Text, SpoilerText, Language string
	MediaIDs                    []string
	At                          time.Time // when this version was made
}

// OnEdit calls f (outside the server's lock) after each edit that changed
// a status, before the answer is written.
func (s *Server) OnEdit(f func(Status)) { s.mu.Lock(); s.onEdit = f; s.mu.Unlock() }

// OnDelete calls f after each delete, before the answer is written.
func (s *Server) OnDelete(f func(Status)) { s.mu.Lock(); s.onDelete = f; s.mu.Unlock() }

// History returns a status's earlier versions, oldest first.
func (s *Server) History(id string) []Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.history[id])
}

// Deleted returns the statuses deleted, in the order they were.
func (s *Server) Deleted() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deleted)
}

// Status returns a status by ID, if it exists.
func (s *Server) Status(id string) (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.byID[id]
	if st == nil {
		return Status{}, false
	}
	return *st, true
}

func (s *Server) getStatus(w http.ResponseWriter, id string) {
	if strings.Contains(id, "/") {
		writeError(w, http.StatusNotFound, "Record not found")
		return
	}
	s.mu.Lock()
	st := s.byID[id]
	var body map[string]any
	if st != nil {
		body = statusJSON(st, s.URL)
	}
	s.mu.Unlock()
	if st == nil {
		writeError(w, http.StatusNotFound, "Record not found")
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) editStatus(w http.ResponseWriter, r *http.Request, id string) {
	set := s.settings()
	if set.NoEdits || strings.Contains(id, "/") {
		writeError(w, http.StatusNotFound, "Record not found")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	text, spoiler, lang := r.PostForm.Get("status"), r.PostForm.Get("spoiler_text"), r.PostForm.Get("language")
	mediaIDs := r.PostForm["media_ids[]"]
	if strings.TrimSpace(text) == "" && len(mediaIDs) == 0 {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: Text can't be blank")
		return
	}
	if n := Length(spoiler, text, set.URLLength); n > set.MaxCharacters {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Validation failed: Text character limit of %d exceeded", set.MaxCharacters))
		return
	}
	s.mu.Lock()
	st := s.byID[id]
	if st == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "Record not found")
		return
	}
	for _, m := range mediaIDs {
		if s.media[m] == nil {
			s.mu.Unlock()
			writeError(w, http.StatusUnprocessableEntity, "Validation failed: Media attachments are invalid")
			return
		}
	}
	for i := 0; ; i++ { // media_attributes[][id] and [][description]
		mid := r.PostForm.Get(fmt.Sprintf("media_attributes[%d][id]", i))
		if mid == "" {
			break
		}
		if m := s.media[mid]; m != nil {
			m.description = r.PostForm.Get(fmt.Sprintf("media_attributes[%d][description]", i))
		}
	}
	changed := st.Text != text || st.SpoilerText != spoiler || (lang != "" && st.Language != lang) || !slices.Equal(st.MediaIDs, mediaIDs)
	var hook func(Status)
	if changed {
		at := st.EditedAt
		if at.IsZero() {
			at = st.CreatedAt
		}
		s.history[id] = append(s.history[id], Version{Text: st.Text, SpoilerText: st.SpoilerText, Language: st.Language, MediaIDs: slices.Clone(st.MediaIDs), At: at})
		st.Text, st.SpoilerText, st.MediaIDs = text, spoiler, mediaIDs
		if lang != "" {
			st.Language = lang
		}
		st.EditedAt = time.Now().UTC()
		st.Edits++
		hook = s.onEdit
	}
	body, snapshot := statusJSON(st, s.URL), *st
	s.mu.Unlock()
	if hook != nil {
		hook(snapshot)
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) deleteStatus(w http.ResponseWriter, id string) {
	s.mu.Lock()
	st := s.byID[id]
	if st == nil || strings.Contains(id, "/") {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "Record not found")
		return
	}
	delete(s.byID, id)
	s.statuses = slices.DeleteFunc(s.statuses, func(x *Status) bool { return x.ID == id })
	s.deleted = append(s.deleted, *st)
	body := statusJSON(st, s.URL)
	body["text"] = st.Text // the source, for delete and redraft
	hook, snapshot := s.onDelete, *st
	s.mu.Unlock()
	if hook != nil {
		hook(snapshot)
	}
	writeJSON(w, http.StatusOK, body)
}

func editedAt(st *Status) any {
	if st.EditedAt.IsZero() {
		return nil
	}
	return st.EditedAt.Format(time.RFC3339Nano)
}
