package schedule

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestDecide(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	weekly, err := Parse("0 7 * * 1", berlin) // Mondays 07:00, Berlin time
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		last, now  time.Time
		wantMissed time.Time
		wantRun    bool
	}{
		{"nothing missed", at("2026-03-23 07:00"), at("2026-03-29 12:00"), time.Time{}, false},
		// Clocks went forward on Sunday 29 March: 07:00 on Monday is CEST.
		{"missed an hour ago, across the DST change", at("2026-03-23 07:00"), at("2026-03-30 08:00"), at("2026-03-30 07:00"), true},
		{"missed exactly max lateness ago", at("2026-03-23 07:00"), at("2026-03-30 13:00"), at("2026-03-30 07:00"), true},
		{"missed too long ago: skipped, never sent late", at("2026-03-23 07:00"), at("2026-03-30 13:01"), at("2026-03-30 07:00"), false},
		{"several missed: only the latest counts", at("2026-03-02 07:00"), at("2026-03-30 09:00"), at("2026-03-30 07:00"), true},
		{"no digest ever: nothing to catch up", time.Time{}, at("2026-03-30 08:00"), time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(weekly, tt.last, tt.now, 6*time.Hour)
			if !got.Missed.Equal(tt.wantMissed) || got.Run != tt.wantRun {
				t.Errorf("Decide = %v run=%v, want %v run=%v", got.Missed, got.Run, tt.wantMissed, tt.wantRun)
			}
		})
	}
	// The tick is 07:00 local time on both sides of the change: 06:00 UTC
	// before it, 05:00 UTC after.
	if got := weekly.Next(at("2026-03-23 08:00")).UTC().Hour(); got != 5 {
		t.Errorf("after DST, 07:00 Berlin is %d:00 UTC, want 5:00", got)
	}
	if got := weekly.Next(at("2026-03-16 08:00")).UTC().Hour(); got != 6 {
		t.Errorf("before DST, 07:00 Berlin is %d:00 UTC, want 6:00", got)
	}
}

func TestSchedule_FallBackRunsOnce(t *testing.T) {
	// On 25 October 2026 Berlin's clocks go back: 02:30 happens twice. A
	// daily 02:30 job runs once that day.
	berlin := mustLoad(t, "Europe/Berlin")
	daily, err := Parse("30 2 * * *", berlin)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 10, 24, 12, 0, 0, 0, berlin)
	var runs []time.Time
	for t0 := daily.Next(start); t0.Before(start.Add(48 * time.Hour)); t0 = daily.Next(t0) {
		runs = append(runs, t0)
	}
	onDay := 0
	for _, r := range runs {
		if r.In(berlin).Day() == 25 {
			onDay++
		}
	}
	if onDay != 1 {
		t.Errorf("runs on the fall-back day: %d (%v), want 1", onDay, runs)
	}
}

func TestParse_DescriptorsAndErrors(t *testing.T) {
	for _, spec := range []string{"@hourly", "@every 2s", "*/30 * * * *", "0 7 * * MON"} {
		if _, err := Parse(spec, time.UTC); err != nil {
			t.Errorf("%q: %v", spec, err)
		}
	}
	for _, spec := range []string{"", "every day", "61 * * * *"} {
		if _, err := Parse(spec, time.UTC); err == nil {
			t.Errorf("%q parsed", spec)
		}
	}
}

// TestTick: a run the schedule starts knows the tick it is for.
func TestTick(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := New(ctx, time.UTC, slog.New(slog.DiscardHandler))
	ticks := make(chan time.Time, 4)
	if err := d.Add(Job{Name: "digest", Spec: "@every 1s", Run: func(ctx context.Context) error {
		tick, ok := Tick(ctx)
		if !ok {
			t.Error("a scheduled run has no tick")
		}
		ticks <- tick
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	d.Start()
	defer d.Stop()
	select {
	case tick := <-ticks:
		if tick.Before(began.Truncate(time.Second)) || tick.After(time.Now()) || tick.Nanosecond() != 0 {
			t.Errorf("tick %v: want the scheduled second, after the start %v", tick, began)
		}
	case <-time.After(time.Minute):
		t.Fatal("no tick")
	}
	if _, ok := Tick(context.Background()); ok {
		t.Error("a run outside the schedule has a tick")
	}
}
