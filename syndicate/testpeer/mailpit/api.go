package mailpit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// Address is a mailbox as Mailpit reports it.
type Address struct {
	Name    string
	Address string
}

// Summary is one message in the list (/api/v1/messages).
type Summary struct {
	ID          string // Mailpit's database ID, for the other calls
	MessageID   string // the Message-ID header, without <>
	Read        bool
	From        *Address
	To          []Address
	Cc          []Address
	Bcc         []Address
	ReplyTo     []Address
	Subject     string
	Created     time.Time // when Mailpit received it
	Username    string    // the SMTP AUTH user, if any
	Tags        []string
	Size        uint64
	Attachments int
	Snippet     string
}

// Message is one parsed message (/api/v1/message/{ID}).
type Message struct {
	ID              string
	MessageID       string
	From            *Address
	To              []Address
	Cc              []Address
	Bcc             []Address
	ReplyTo         []Address
	ReturnPath      string
	Subject         string
	ListUnsubscribe ListUnsubscribe
	Date            time.Time
	Tags            []string
	Username        string
	Text            string
	HTML            string
	Size            uint64
}

// ListUnsubscribe is Mailpit's reading of the List-Unsubscribe headers.
type ListUnsubscribe struct {
	Header     string   // List-Unsubscribe
	Links      []string // at most one mailto: and one http(s) link
	Errors     string   // Mailpit's complaints about the header, if any
	HeaderPost string   // List-Unsubscribe-Post
}

// HTMLCheck is the result of /api/v1/message/{ID}/html-check: how well
// the HTML part is supported by email clients (caniemail.com data).
type HTMLCheck struct {
	Total    HTMLTotal
	Warnings []HTMLWarning
}

// HTMLTotal is the weighted overall score, in percent.
type HTMLTotal struct {
	Tests       int // number of tests done
	Nodes       int // HTML nodes in the message
	Supported   float64
	Partial     float64
	Unsupported float64
}

// HTMLWarning is one HTML or CSS feature not supported everywhere.
type HTMLWarning struct {
	Slug        string // e.g. "html-body", "css-at-media"
	Title       string
	Description string
	URL         string
	Category    string // "html" or "css"
	Tags        []string
	Keywords    string
	Score       HTMLScore
}

// HTMLScore is a warning's score, in percent of the clients tested.
type HTMLScore struct {
	Found       int // matches in the document
	Supported   float64
	Partial     float64
	Unsupported float64
}

// LinkCheck is the result of /api/v1/message/{ID}/link-check.
type LinkCheck struct {
	Errors int // links with StatusCode 0 or >= 400
	Links  []Link
}

// Link is one link found in the message and what a HEAD request for it
// returned. StatusCode is 0 when the request failed (Status then holds
// the tail of the error, e.g. "no such host"), and 451 "Blocked
// private/reserved address" for loopback and private addresses unless
// WithInternalHTTP.
type Link struct {
	URL        string
	StatusCode int
	Status     string
}

// Chaos sets how often Mailpit answers a command with an error.
type Chaos struct {
	Sender         ChaosTrigger // MAIL FROM
	Recipient      ChaosTrigger // RCPT TO
	Authentication ChaosTrigger // AUTH
}

// ChaosTrigger fails a command with ErrorCode (400-599; 0 means Mailpit's
// default: 451, or 535 for AUTH) in Probability percent (0-100) of cases.
type ChaosTrigger struct {
	ErrorCode   int
	Probability int
}

// Messages returns every message in the mailbox, oldest first, paging
// through /api/v1/messages.
func (s *Server) Messages(t testing.TB) []Summary {
	t.Helper()
	const page = 250
	var all []Summary
	seen := map[string]bool{}
	for start := 0; ; {
		var res struct {
			Total    int       `json:"total"`
			Messages []Summary `json:"messages"`
		}
		s.getJSON(t, "/api/v1/messages?start="+strconv.Itoa(start)+"&limit="+strconv.Itoa(page), &res)
		for _, m := range res.Messages {
			// A message arriving while we page shifts the list by one.
			if !seen[m.ID] {
				seen[m.ID] = true
				all = append(all, m)
			}
		}
		start += len(res.Messages)
		if len(res.Messages) == 0 || start >= res.Total {
			break
		}
	}
	// The API lists newest first.
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all
}

// Count returns the number of messages in the mailbox.
func (s *Server) Count(t testing.TB) int {
	t.Helper()
	var res struct {
		Total int `json:"total"`
	}
	s.getJSON(t, "/api/v1/messages?limit=1", &res)
	return res.Total
}

// WaitForMessages polls until the mailbox holds at least n messages and
// returns them all (oldest first); it fails the test after timeout.
func (s *Server) WaitForMessages(t testing.TB, n int, timeout time.Duration) []Summary {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := s.Count(t)
		if got >= n {
			return s.Messages(t)
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit: %d messages after %v, want %d", got, timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Message returns one message parsed by Mailpit; id may be "latest".
func (s *Server) Message(t testing.TB, id string) Message {
	t.Helper()
	var m Message
	s.getJSON(t, "/api/v1/message/"+url.PathEscape(id), &m)
	return m
}

// Raw returns the message exactly as received (with Mailpit's Received
// header first); id may be "latest".
func (s *Server) Raw(t testing.TB, id string) []byte {
	t.Helper()
	return s.get(t, "/api/v1/message/"+url.PathEscape(id)+"/raw")
}

// Headers returns the message's headers, decoded, keyed by canonical name.
func (s *Server) Headers(t testing.TB, id string) map[string][]string {
	t.Helper()
	var h map[string][]string
	s.getJSON(t, "/api/v1/message/"+url.PathEscape(id)+"/headers", &h)
	return h
}

// HTMLCheck runs Mailpit's HTML compatibility check. A message without an
// HTML part fails the test (Mailpit answers 400 "message does not contain
// HTML").
func (s *Server) HTMLCheck(t testing.TB, id string) HTMLCheck {
	t.Helper()
	var c HTMLCheck
	s.getJSON(t, "/api/v1/message/"+url.PathEscape(id)+"/html-check", &c)
	return c
}

// LinkCheck lists the links of the message (HTML a/img/stylesheet, then
// plain text; at most 100) with the status of a HEAD request to each.
// follow=true follows up to 3 redirects. Mailpit has no "list only"
// mode: every link is requested, each with a 10 s timeout; offline a
// public host fails with StatusCode 0 as soon as DNS fails.
func (s *Server) LinkCheck(t testing.TB, id string, follow bool) LinkCheck {
	t.Helper()
	var c LinkCheck
	s.getJSON(t, "/api/v1/message/"+url.PathEscape(id)+"/link-check?follow="+strconv.FormatBool(follow), &c)
	return c
}

// DeleteAll empties the mailbox.
func (s *Server) DeleteAll(t testing.TB) {
	t.Helper()
	s.do(t, http.MethodDelete, "/api/v1/messages", []byte("{}"))
}

// SetChaos sets the chaos triggers (needs WithChaos). The zero Chaos turns
// them all off.
func (s *Server) SetChaos(t testing.TB, c Chaos) {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	s.do(t, http.MethodPut, "/api/v1/chaos", b)
}

func (s *Server) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	b := s.get(t, path)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("mailpit: GET %s: %v in %.300q", path, err, b)
	}
}

func (s *Server) get(t testing.TB, path string) []byte {
	t.Helper()
	return s.do(t, http.MethodGet, path, nil)
}

func (s *Server) do(t testing.TB, method, path string, body []byte) []byte {
	t.Helper()
	b, err := s.request(method, path, body)
	if err != nil {
		t.Fatalf("mailpit: %v", err)
	}
	return b
}

func (s *Server) request(method, path string, body []byte) ([]byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.APIURL+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %.500s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}
