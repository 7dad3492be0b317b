package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// never is a schedule whose tick does not come during a test.
const never = "0 0 1 1 *"

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the daemon in the background; stop cancels it and waits.
func start(t *testing.T, opts Options, jobs ...Job) (stop func()) {
	t.Helper()
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, opts, jobs...) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the daemon did not stop")
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func healthz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRun_UnfinishedWorkResumedAndRetried: work left unfinished is taken
// up at start, retried with a doubling backoff while it stays, /healthz
// says so while it waits, and all is well once it is done.
func TestRun_UnfinishedWorkResumedAndRetried(t *testing.T) {
	var runs atomic.Int32
	var left atomic.Int32
	left.Store(3) // the "relay" is down for three runs
	var times []time.Time
	var mu sync.Mutex
	j := Job{Name: "digest", Spec: never,
		Run: func(ctx context.Context) error {
			runs.Add(1)
			mu.Lock()
			times = append(times, time.Now())
			mu.Unlock()
			if left.Load() > 0 {
				left.Add(-1)
				return errors.New("the mail relay cannot be reached")
			}
			return nil
		},
		Unfinished: func(context.Context) (string, error) {
			if left.Load() >= 0 && runs.Load() < 4 {
				return "digest #1: 286 reader(s) not yet mailed", nil
			}
			return "", nil
		},
	}
	addr := freeAddr(t)
	stop := start(t, Options{Listen: addr, RetryMin: 100 * time.Millisecond, RetryMax: time.Second, Grace: time.Second}, j)
	defer stop()
	// While it waits between tries, /healthz is unhealthy and says why.
	eventually(t, "an unhealthy /healthz", func() bool {
		code, body := healthz(t, addr)
		return code == 503 && strings.Contains(body, "unfinished work is waiting (digest #1: 286 reader(s) not yet mailed)")
	})
	eventually(t, "four runs", func() bool { return runs.Load() >= 4 })
	eventually(t, "a healthy /healthz", func() bool { code, _ := healthz(t, addr); return code == 200 })
	mu.Lock()
	defer mu.Unlock()
	// The waits double: 100 ms, 200 ms, 400 ms (at least).
	for i, want := range []time.Duration{100, 200, 400} {
		if got := times[i+1].Sub(times[i]); got < want*time.Millisecond {
			t.Errorf("wait %d was %v, want at least %v", i+1, got, want*time.Millisecond)
		}
	}
	if n := runs.Load(); n != 4 {
		t.Errorf("%d runs, want 4 (the first at start, three retries)", n)
	}
}

// TestRun_OneRunAtATime: start-up, signals and the schedule never run a
// job twice at once.
func TestRun_OneRunAtATime(t *testing.T) {
	var running, most, total atomic.Int32
	release := make(chan struct{})
	j := Job{Name: "post", Spec: never,
		Run: func(ctx context.Context) error {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			total.Add(1)
			<-release
			return nil
		},
		StartUp: func(context.Context) (bool, string) { return true, "a test" },
	}
	runNow := make(chan string, 10)
	var log syncLog
	stop := start(t, Options{RunNow: runNow, Grace: time.Second, Log: slog.New(slog.NewTextHandler(&log, nil))}, j)
	eventually(t, "the start-up run", func() bool { return total.Load() == 1 })
	for i := 0; i < 5; i++ {
		runNow <- "post"
	}
	// Every signal is met while the first run holds.
	eventually(t, "the signals met", func() bool { return strings.Count(log.String(), "asked again") == 5 })
	close(release)
	eventually(t, "the run the signals asked for", func() bool { return total.Load() == 2 })
	stop()
	if most.Load() != 1 {
		t.Errorf("%d runs at once", most.Load())
	}
	// Signals during a run ask for one run after it (the run in hand may
	// have read the articles before the story they are about), not five.
	if total.Load() != 2 {
		t.Errorf("%d runs, want 2: the start-up one and one after it for the five signals", total.Load())
	}
}

// TestRun_ShutdownWaitsForARunOutsideTheSchedule: a run started at
// start-up (a catch-up digest) is waited for when the daemon stops, so the
// state is not closed under it.
func TestRun_ShutdownWaitsForARunOutsideTheSchedule(t *testing.T) {
	var finished atomic.Bool
	started := make(chan struct{})
	j := Job{Name: "digest", Spec: never,
		Run: func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			time.Sleep(300 * time.Millisecond) // the message in hand
			finished.Store(true)
			return nil
		},
		StartUp: func(context.Context) (bool, string) { return true, "catching up" },
	}
	stop := start(t, Options{Grace: 2 * time.Second}, j)
	<-started
	stop()
	if !finished.Load() {
		t.Error("Run returned before the start-up run had finished")
	}
}

// TestRun_HealthAndPartial: a failed run makes /healthz unhealthy until
// the next good one; a partial run (some items failed, reported) is not a
// failure; the state's ping is part of the health.
func TestRun_HealthAndPartial(t *testing.T) {
	var mu sync.Mutex
	var result error = fmt.Errorf("article x: %w", syndicate.ErrPartial)
	setResult := func(err error) { mu.Lock(); result = err; mu.Unlock() }
	var pingErr atomic.Value
	pingErr.Store("")
	j := Job{Name: "post", Spec: never, Run: func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		return result
	}}
	runNow := make(chan string, 1)
	addr := freeAddr(t)
	stop := start(t, Options{Listen: addr, RunNow: runNow, Grace: time.Second, Ping: func(context.Context) error {
		if s := pingErr.Load().(string); s != "" {
			return errors.New(s)
		}
		return nil
	}}, j)
	defer stop()
	eventually(t, "the listener", func() bool { code, _ := healthz(t, addr); return code != 0 })
	runNow <- "post"
	time.Sleep(200 * time.Millisecond)
	if code, body := healthz(t, addr); code != 200 {
		t.Errorf("after a partial run: %d %s", code, body)
	}
	setResult(errors.New("the server refused the access token"))
	runNow <- "post"
	eventually(t, "an unhealthy /healthz", func() bool {
		code, body := healthz(t, addr)
		return code == 503 && strings.Contains(body, "post job failed: the server refused the access token")
	})
	setResult(nil)
	runNow <- "post"
	eventually(t, "a healthy /healthz", func() bool { code, _ := healthz(t, addr); return code == 200 })
	pingErr.Store("database is locked")
	if code, body := healthz(t, addr); code != 503 || !strings.Contains(body, "state unreachable: database is locked") {
		t.Errorf("with the state down: %d %s", code, body)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`syndicate_job_runs_total{job="post",result="partial"} 1`, `syndicate_job_runs_total{job="post",result="error"} 1`, `syndicate_job_runs_total{job="post",result="ok"} 1`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestRun_ListenError: a port in use stops the daemon before any job.
func TestRun_ListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var ran atomic.Bool
	j := Job{Name: "post", Spec: never, Run: func(context.Context) error { ran.Store(true); return nil },
		StartUp: func(context.Context) (bool, string) { return true, "x" }}
	err = Run(context.Background(), Options{Location: time.UTC, Listen: ln.Addr().String()}, j)
	if err == nil || !strings.Contains(err.Error(), "http.listen") {
		t.Errorf("err = %v", err)
	}
	if ran.Load() {
		t.Error("a job ran although the daemon could not start")
	}
}
