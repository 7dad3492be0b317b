package mastotest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func call(t *testing.T, s *Server, method, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestEditsAndDeletes(t *testing.T) {
	s := New("tok")
	defer s.Close()
	code, head := call(t, s, http.MethodPost, "/api/v1/statuses", url.Values{"status": {"Head."}})
	if code != 200 {
		t.Fatal(code)
	}
	id := head["id"].(string)
	_, reply := call(t, s, http.MethodPost, "/api/v1/statuses", url.Values{"status": {"Reply."}, "in_reply_to_id": {id}})

	tests := []struct {
		name     string
		method   string
		path     string
		form     url.Values
		wantCode int
	}{
		{"edit", http.MethodPut, "/api/v1/statuses/" + id, url.Values{"status": {"Head, corrected."}}, 200},
		{"edit changing nothing", http.MethodPut, "/api/v1/statuses/" + id, url.Values{"status": {"Head, corrected."}}, 200},
		{"edit too long", http.MethodPut, "/api/v1/statuses/" + id, url.Values{"status": {strings.Repeat("x", 501)}}, 422},
		{"edit blank", http.MethodPut, "/api/v1/statuses/" + id, url.Values{"status": {" "}}, 422},
		{"edit unknown", http.MethodPut, "/api/v1/statuses/999", url.Values{"status": {"x"}}, 404},
		{"get", http.MethodGet, "/api/v1/statuses/" + id, nil, 200},
		{"delete the reply", http.MethodDelete, "/api/v1/statuses/" + reply["id"].(string), nil, 200},
		{"delete it again", http.MethodDelete, "/api/v1/statuses/" + reply["id"].(string), nil, 404},
		{"edit the deleted", http.MethodPut, "/api/v1/statuses/" + reply["id"].(string), url.Values{"status": {"x"}}, 404},
		{"get the deleted", http.MethodGet, "/api/v1/statuses/" + reply["id"].(string), nil, 404},
	}
	for _, tt := range tests {
		if got, _ := call(t, s, tt.method, tt.path, tt.form); got != tt.wantCode {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.wantCode)
		}
	}
	st, ok := s.Status(id)
	if !ok || st.Text != "Head, corrected." || st.Edits != 1 || st.EditedAt.IsZero() {
		t.Errorf("after the edits: %+v", st)
	}
	if h := s.History(id); len(h) != 1 || h[0].Text != "Head." {
		t.Errorf("history %+v, want the one earlier version", h)
	}
	if d := s.Deleted(); len(d) != 1 || d[0].Text != "Reply." || len(s.Statuses()) != 1 {
		t.Errorf("deleted %+v, left %d", d, len(s.Statuses()))
	}
	s.Set(func(set *Settings) { set.NoEdits = true })
	if got, _ := call(t, s, http.MethodPut, "/api/v1/statuses/"+id, url.Values{"status": {"y"}}); got != 404 {
		t.Errorf("a server without edits answered %d", got)
	}
}
