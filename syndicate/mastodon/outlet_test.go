package mastodon_test

import (
	"os"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/mastodon"
	"github.com/syndicate-bot/syndicate/syndicate/mastodon/mastotest"
	"github.com/syndicate-bot/syndicate/syndicate/outlettest"
	"github.com/syndicate-bot/syndicate/syndicate/testpeer/gotosocial"
)

// TestMain stops the GoToSocial server the contract shares, if started.
func TestMain(m *testing.M) { os.Exit(gotosocial.Main(m)) }

// TestOutletContract_Mastotest: the Mastodon client meets the outlet
// contract against the project's Mastodon API test server, which replays
// a repeated Idempotency-Key as Mastodon does.
func TestOutletContract_Mastotest(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	srv.Set(func(s *mastotest.Settings) { s.KeyTTL = time.Hour })
	status := func(t *testing.T, id string) mastotest.Status {
		for _, st := range srv.Statuses() {
			if st.ID == id {
				return st
			}
		}
		t.Fatalf("no status %s on the server", id)
		return mastotest.Status{}
	}
	outlettest.OutletContract(t, client(srv, token), outlettest.Peer{
		ReadBack: func(t *testing.T, st syndicate.Status) (string, string) {
			s := status(t, st.ID)
			return s.Text, s.InReplyToID
		},
		Count: func(*testing.T) int { return len(srv.Statuses()) },
		Exists: func(t *testing.T, st syndicate.Status) bool {
			_, ok := srv.Status(st.ID)
			return ok
		},
	})
	for _, st := range srv.Statuses() {
		if st.Edits > 1 {
			t.Errorf("status %s has %d versions after one edit sent twice", st.ID, st.Edits)
		}
	}
}

// TestOutletContract_GoToSocial: the Mastodon client meets the outlet
// contract against a real GoToSocial, which ignores Idempotency-Key: a
// retry there is kept single by FindPosted alone.
func TestOutletContract_GoToSocial(t *testing.T) {
	srv := gotosocial.SharedWith(t, gotosocial.Options{RateLimit: gotosocial.RateLimitOff})
	acct := srv.NewAccount(t, "contract")
	c := mastodon.New(mastodon.Options{Server: srv.URL, Token: acct.Token, Timeout: 10 * time.Second, Retries: 2, Backoff: 10 * time.Millisecond})
	outlettest.OutletContract(t, c, outlettest.Peer{
		ReadBack: func(t *testing.T, st syndicate.Status) (string, string) {
			s, ok := acct.Status(t, st.ID)
			if !ok {
				t.Fatalf("no status %s on GoToSocial", st.ID)
			}
			return s.Source, s.InReplyToID
		},
		Count:    func(t *testing.T) int { return len(acct.Statuses(t)) },
		NoReplay: true,
		Exists: func(t *testing.T, st syndicate.Status) bool {
			_, ok := acct.Status(t, st.ID)
			return ok
		},
	})
}
