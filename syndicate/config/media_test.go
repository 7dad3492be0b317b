package config

import (
	"errors"
	"strings"
	"testing"
)

// TestLoad_MediaBaseURL: email.media_base_url goes into every reader's
// message as the start of picture URLs: https (http only on this
// machine), no credentials, nothing after the path, and an error names
// the key and file:line without echoing a value from the environment.
func TestLoad_MediaBaseURL(t *testing.T) {
	for _, ok := range []string{"https://news.example.org/media/", "https://cdn.example.org", "http://127.0.0.1:8080/media/", "http://localhost/m/"} {
		cfg, err := load(t, "email:\n  media_base_url: "+ok+"\n", nil)
		if err != nil {
			t.Errorf("%s: %v", ok, err)
			continue
		}
		if got, want := cfg.Email.MediaBaseURL, ok; got != want {
			t.Errorf("media_base_url = %q, want %q", got, want)
		}
	}
	tests := []struct {
		name, value, want string
	}{
		{"http elsewhere", "http://news.example.org/media/", ":3: email.media_base_url: must be https"},
		{"not a URL", "media/", `:3: email.media_base_url: "media/" is not an https URL`},
		{"javascript", "\"javascript:alert(1)//\"", `:3: email.media_base_url: "javascript:alert(1)//" is not an https URL`},
		{"ftp", "ftp://news.example.org/", `:3: email.media_base_url: "ftp://news.example.org/" is not an https URL`},
		{"no host", "https:///media/", ":3: email.media_base_url: \"https:///media/\" is not an https URL"},
		{"credentials", "https://u:p@news.example.org/media/", ":3: email.media_base_url: may not hold a user name or password"},
		{"a query", "https://news.example.org/img?path=", `:3: email.media_base_url: "https://news.example.org/img?path=": want a plain base URL`},
		{"an empty query", "https://news.example.org/img?", `:3: email.media_base_url: "https://news.example.org/img?": want a plain base URL`},
		{"a fragment", "https://news.example.org/media/#x", `:3: email.media_base_url: "https://news.example.org/media/#x": want a plain base URL`},
		{"a quote", "'https://news.example.org/m\"/'", `:3: email.media_base_url: "https://news.example.org/m\"/": want a plain base URL`},
		{"a space", "'https://news.example.org/my media/'", `:3: email.media_base_url: "https://news.example.org/my media/": want a plain base URL`},
		{"a line break", "\"https://news.example.org/\\r\\nX: y\"", ":3: email.media_base_url: the value holds a line break or control character"},
		{"a list", "[https://a.example/, https://b.example/]", ":3: email.media_base_url: want a single value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, "email:\n  from: \"Brief <b@example.org>\"\n  media_base_url: "+tt.value+"\n", nil)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want a *config.Error", err, err)
			}
			if !strings.Contains(err.Error(), "config.yaml"+tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, "config.yaml"+tt.want)
			}
		})
	}
	// From the environment: the key and the variable are named, the value
	// is not shown.
	_, err := load(t, "email:\n  media_base_url: ${MEDIA}\n", map[string]string{"MEDIA": "ftp://secret-host.example/"})
	if err == nil || !strings.Contains(err.Error(), ":2: email.media_base_url: the value from ${MEDIA} is not an https URL") || strings.Contains(err.Error(), "secret-host") {
		t.Errorf("err = %v, want the key and ${MEDIA} named and the value not shown", err)
	}
}
