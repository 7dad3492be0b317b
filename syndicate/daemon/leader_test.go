package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/metrics"
)

// elector is an Elector the test drives: grant starts a term, revoke ends
// it with a cause.
type elector struct {
	grants   chan struct{}
	mu       sync.Mutex
	end      context.CancelCauseFunc
	resigned atomic.Bool
}

func newElector() *elector { return &elector{grants: make(chan struct{})} }

func (e *elector) Campaign(ctx context.Context) (context.Context, error) {
	select {
	case <-e.grants:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	term, end := context.WithCancelCause(context.Background())
	e.mu.Lock()
	e.end = end
	e.mu.Unlock()
	return term, nil
}

func (e *elector) Resign() {
	e.resigned.Store(true)
	e.revoke(errors.New("resigned"))
}

func (e *elector) grant() { e.grants <- struct{}{} }

func (e *elector) revoke(cause error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.end != nil {
		e.end(cause)
	}
}

type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *syncLog) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func metricsText(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestRun_LeaderJobsRunOnlyInATerm: a follower skips the leader's jobs
// (and is healthy with their work waiting), a term begins with their
// unfinished work, its end cancels the run in hand, and a new term
// resumes.
func TestRun_LeaderJobsRunOnlyInATerm(t *testing.T) {
	el := newElector()
	runNow := make(chan string, 1)
	var runs, shared atomic.Int32
	var inRun atomic.Bool
	cancelled := make(chan error, 1)
	post := Job{Name: "post", Spec: never, Leader: true,
		Unfinished: func(context.Context) (string, error) { return "1 thread(s) half posted: wind", nil },
		Run: func(ctx context.Context) error {
			n := runs.Add(1)
			if n == 1 {
				inRun.Store(true)
				<-ctx.Done() // the term ends mid-run
				cancelled <- context.Cause(ctx)
				return ctx.Err()
			}
			return nil
		},
	}
	digest := Job{Name: "digest", Spec: never, Run: func(context.Context) error { shared.Add(1); return nil }}
	addr := freeAddr(t)
	var log syncLog
	stop := start(t, Options{Listen: addr, Elector: el, RunNow: runNow, Grace: time.Second, Metrics: metrics.New(),
		Log: slog.New(slog.NewTextHandler(&log, nil))}, post, digest)

	eventually(t, "the listener", func() bool { code, _ := healthz(t, addr); return code != 0 })
	code, body := healthz(t, addr)
	if code != 200 || !strings.Contains(body, "leader: no") {
		t.Errorf("a follower's /healthz = %d %q; want 200 and not the leader", code, body)
	}
	if m := metricsText(t, addr); !strings.Contains(m, "syndicate_leader 0") {
		t.Errorf("a follower's metrics lack syndicate_leader 0")
	}
	runNow <- "post"
	eventually(t, "the post run to be skipped", func() bool { return strings.Contains(log.String(), "not the leader") })
	runNow <- "digest"
	eventually(t, "the shared job to run on a follower", func() bool { return shared.Load() == 1 })
	if runs.Load() != 0 {
		t.Fatal("a leader job ran on a follower")
	}

	// The term begins: the unfinished work is resumed at once.
	el.grant()
	eventually(t, "the leader's run", func() bool { return inRun.Load() })
	code, body = healthz(t, addr)
	if code != 200 || !strings.Contains(body, "leader: yes") {
		t.Errorf("the leader's /healthz = %d %q", code, body)
	}
	if m := metricsText(t, addr); !strings.Contains(m, "syndicate_leader 1") {
		t.Errorf("the leader's metrics lack syndicate_leader 1")
	}
	// The session is lost: the run in hand is cancelled, with the cause.
	el.revoke(errors.New("the database session ended"))
	select {
	case cause := <-cancelled:
		if !errors.Is(cause, ErrNotLeader) || !strings.Contains(cause.Error(), "the database session ended") {
			t.Errorf("the run ended with %v", cause)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the run in hand went on after the term ended")
	}
	eventually(t, "the loss to be logged", func() bool { return strings.Contains(log.String(), "lost the leadership") })
	eventually(t, "syndicate_leader 0", func() bool { return strings.Contains(metricsText(t, addr), "syndicate_leader 0") })

	// Elected again: the work is taken up again.
	el.grant()
	eventually(t, "the second term's run", func() bool { return runs.Load() == 2 })
	stop()
	if !el.resigned.Load() {
		t.Error("the daemon did not resign when it stopped")
	}
}

type poster struct {
	started chan struct{}
}

func (p *poster) Network() string                        { return syndicate.NetworkMastodon }
func (p *poster) Plan(*syndicate.PlannedPost, time.Time) {}
func (p *poster) Limits(context.Context) (syndicate.Limits, error) {
	return syndicate.DefaultLimits(), nil
}
func (p *poster) Upload(context.Context, syndicate.Picture, string) (string, error) {
	return "media", nil
}
func (p *poster) FindPosted(context.Context, syndicate.PlannedPost, syndicate.Ref, time.Time) (syndicate.Status, bool, error) {
	return syndicate.Status{}, false, nil
}
func (p *poster) Post(ctx context.Context, _ syndicate.PlannedPost, _, _ syndicate.Ref, _ []string) (syndicate.Status, error) {
	if p.started != nil {
		close(p.started)
		<-ctx.Done() // a slow server
		return syndicate.Status{}, ctx.Err()
	}
	return syndicate.Status{ID: "1"}, nil
}

// deleter is an outlet that can delete posts (as Bluesky's), not edit them.
type deleter struct {
	poster
	deleted int
}

func (d *deleter) Delete(context.Context, syndicate.Ref) error { d.deleted++; return nil }

// TestFence_AddOns: a fenced outlet can do what the outlet can (delete,
// here), fenced too, and nothing more (no edit it does not have).
func TestFence_AddOns(t *testing.T) {
	d := &deleter{}
	f := Fence(d)
	if _, ok := f.(syndicate.Editor); ok {
		t.Error("the fenced outlet can edit; the outlet cannot")
	}
	del, ok := f.(syndicate.Deleter)
	if !ok {
		t.Fatal("the fenced outlet cannot delete; the outlet can")
	}
	if err := del.Delete(context.Background(), syndicate.Ref{}); err != nil || d.deleted != 1 {
		t.Errorf("Delete outside a term = %v, %d deleted", err, d.deleted)
	}
	term, end := context.WithCancelCause(context.Background())
	runCtx, done := WithTerm(context.Background(), term)
	defer done()
	end(errors.New("lost the session"))
	if err := del.Delete(context.WithoutCancel(runCtx), syndicate.Ref{}); !errors.Is(err, ErrNotLeader) || d.deleted != 1 {
		t.Errorf("Delete after the term = %v, %d deleted; want ErrNotLeader and no delete", err, d.deleted)
	}
}

// TestFence: outlet calls in a term are cut when it ends, even in the
// grace a stop gives the post in hand (a context without its parent's
// cancellation); calls outside any term pass.
func TestFence(t *testing.T) {
	ctx := context.Background()
	if st, err := Fence(&poster{}).Post(ctx, syndicate.PlannedPost{}, syndicate.Ref{}, syndicate.Ref{}, nil); err != nil || st.ID != "1" {
		t.Errorf("outside a term: %v, %v", st, err)
	}
	term, end := context.WithCancelCause(ctx)
	runCtx, done := WithTerm(ctx, term)
	defer done()
	p := &poster{started: make(chan struct{})}
	errs := make(chan error, 1)
	go func() {
		// As job.Post sends: the grace context keeps the values only.
		_, err := Fence(p).Post(context.WithoutCancel(runCtx), syndicate.PlannedPost{}, syndicate.Ref{}, syndicate.Ref{}, nil)
		errs <- err
	}()
	<-p.started
	end(errors.New("lost the session"))
	select {
	case err := <-errs:
		if !errors.Is(err, ErrNotLeader) || !strings.Contains(err.Error(), "lost the session") {
			t.Errorf("the call under way ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call under way was not cut")
	}
	// The run's context ends with the term, by a context.AfterFunc: in a
	// goroutine of its own, so it may come a moment after the fence's.
	select {
	case <-runCtx.Done():
	case <-time.After(10 * time.Second):
		t.Error("the run's context outlived its term")
	}
	if _, _, err := Fence(&poster{}).FindPosted(context.WithoutCancel(runCtx), syndicate.PlannedPost{}, syndicate.Ref{}, time.Time{}); !errors.Is(err, ErrNotLeader) {
		t.Errorf("a call after the term = %v, want ErrNotLeader", err)
	}
}
