package config

import (
	"strings"
	"testing"
)

// ATTACK: the "more often than once a minute" check looks for the prefix
// "@every " only, but robfig/cron's ParseStandard accepts a time-zone
// prefix first: "CRON_TZ=UTC @every 1s" (or "TZ=UTC @every 1s") passes
// validation and the daemon runs the job every second (seen: 5 "job
// started" in 5 s of "run --dry-run").
func TestAttack_CronTZPrefixBypassesMinimumInterval(t *testing.T) {
	for _, spec := range []string{"CRON_TZ=UTC @every 1s", "TZ=UTC @every 1s", "CRON_TZ=Europe/Lisbon @every 100ms"} {
		src := "schedule:\n  post: \"" + spec + "\"\n"
		cfg, err := Parse("c.yaml", []byte(src), env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "once a minute") {
			t.Errorf("%q: Validate = %v, want \"runs more often than once a minute\"", spec, err)
		}
	}
}
