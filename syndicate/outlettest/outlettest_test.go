package outlettest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/outlettest"
)

// memory is an outlet in memory whose retries cannot duplicate (a post
// is kept under its idempotency key), to check the suite itself.
type memory struct {
	mu    sync.Mutex
	byKey map[string]syndicate.Status
	posts map[string]memPost
}

type memPost struct{ text, parent string }

func (m *memory) Network() string { return "memory" }
func (m *memory) Limits(context.Context) (syndicate.Limits, error) {
	return syndicate.DefaultLimits(), nil
}
func (m *memory) Plan(p *syndicate.PlannedPost, now time.Time) {}
func (m *memory) Upload(context.Context, syndicate.Picture, string) (string, error) {
	return "", fmt.Errorf("no media")
}

func (m *memory) Post(_ context.Context, p syndicate.PlannedPost, parent, root syndicate.Ref, media []string) (syndicate.Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st, ok := m.byKey[p.IdempotencyKey]; ok {
		return st, nil
	}
	id := fmt.Sprint(len(m.posts) + 1)
	st := syndicate.Status{ID: id, URL: "https://memory.example/" + id}
	m.byKey[p.IdempotencyKey] = st
	m.posts[id] = memPost{p.Text, parent.ID}
	return st, nil
}

func (m *memory) FindPosted(_ context.Context, p syndicate.PlannedPost, parent syndicate.Ref, since time.Time) (syndicate.Status, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.byKey[p.IdempotencyKey]
	return st, ok, nil
}

func TestOutletContract_Memory(t *testing.T) {
	m := &memory{byKey: map[string]syndicate.Status{}, posts: map[string]memPost{}}
	outlettest.OutletContract(t, m, outlettest.Peer{
		ReadBack: func(t *testing.T, st syndicate.Status) (string, string) {
			m.mu.Lock()
			defer m.mu.Unlock()
			p, ok := m.posts[st.ID]
			if !ok {
				t.Fatalf("no post %s", st.ID)
			}
			return p.text, p.parent
		},
		Count: func(t *testing.T) int {
			m.mu.Lock()
			defer m.mu.Unlock()
			return len(m.posts)
		},
	})
}

func TestThread_Unique(t *testing.T) {
	a, b := outlettest.Thread(), outlettest.Thread()
	if len(a) != 4 || a[0] == b[0] {
		t.Errorf("threads %q and %q", a, b)
	}
}
