package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// The tests of what replicas sharing one state rely on: one digest per
// schedule slot, one preparer, readers claimed once under a lease.
// Concurrent callers share one store: on PostgreSQL each goroutine holds
// a connection (a session) of its own, as replicas do.

const lease = 2 * time.Minute

func testSlotOnce(t *testing.T, e *env) {
	rec, created, err := e.st.CreateDigestFor(e.ctx, "tick:2026-11-30T07:00:00Z", items("wind", "library"), []string{"extra"}, nil)
	ok(t, err)
	if !created || rec.ID <= 0 || rec.State != syndicate.DigestPreparing || rec.Omitted != 1 {
		t.Fatalf("first CreateDigestFor = %+v, %v; want a new digest preparing", rec, created)
	}
	sameTime(t, "CreatedAt", rec.CreatedAt, e.clock.Now())
	ok(t, e.st.StartDigest(e.ctx, rec.ID))
	ok(t, e.st.FinishDigest(e.ctx, rec.ID))

	// The same slot again (another replica's tick), with other articles:
	// the slot's digest, unchanged.
	e.clock.Advance(time.Second)
	again, created, err := e.st.CreateDigestFor(e.ctx, "tick:2026-11-30T07:00:00Z", items("auction"), nil, nil)
	ok(t, err)
	if created || again.ID != rec.ID || again.State != syndicate.DigestDone {
		t.Errorf("CreateDigestFor of a taken slot = %+v, %v; want digest %d, done, not created", again, created, rec.ID)
	}
	sameTime(t, "CreatedAt of the slot's digest", again.CreatedAt, rec.CreatedAt)
	if got, _ := e.st.DigestItems(e.ctx, rec.ID); len(got) != 2 {
		t.Errorf("the slot's digest has %d items, want its 2", len(got))
	}
	done, err := e.st.DigestedArticles(e.ctx)
	ok(t, err)
	if done["auction"] {
		t.Error("the refused digest's article counts as digested")
	}

	// Another slot, and runs by hand (no slot), make digests of their own.
	next, created, err := e.st.CreateDigestFor(e.ctx, "tick:2026-12-07T07:00:00Z", items("auction"), nil, nil)
	ok(t, err)
	if !created || next.ID <= rec.ID {
		t.Errorf("next slot = %+v, %v", next, created)
	}
	a, createdA, err := e.st.CreateDigestFor(e.ctx, "", items("a"), nil, nil)
	ok(t, err)
	b, createdB, err := e.st.CreateDigestFor(e.ctx, "", items("b"), nil, nil)
	ok(t, err)
	if !createdA || !createdB || a.ID == b.ID || a.ID <= next.ID {
		t.Errorf("runs by hand = %d (%v), %d (%v); want two new digests", a.ID, createdA, b.ID, createdB)
	}
}

func testArticleTakenMeanwhile(t *testing.T, e *env) {
	first, _, err := e.st.CreateDigestFor(e.ctx, "", items("wind"), []string{"extra"}, nil)
	ok(t, err)
	// Another replica chose its articles before the first digest was
	// made: both of its choices are stale.
	for _, c := range []struct {
		name    string
		items   []syndicate.DigestItem
		omitted []string
	}{
		{"an item", items("library", "wind"), nil},
		{"an omitted article", items("library"), []string{"extra"}},
	} {
		rec, created, err := e.st.CreateDigestFor(e.ctx, "tick:x", c.items, c.omitted, nil)
		if !errors.Is(err, syndicate.ErrChanged) || created {
			t.Errorf("%s taken: CreateDigestFor = %+v, %v, %v; want syndicate.ErrChanged", c.name, rec, created, err)
		}
	}
	list, err := e.st.Digests(e.ctx, 5)
	ok(t, err)
	if len(list) != 1 || list[0].ID != first.ID {
		t.Errorf("Digests = %+v; want only the first", list)
	}
	// The slot is still free, and IDs go on from the last one made.
	rec, created, err := e.st.CreateDigestFor(e.ctx, "tick:x", items("library"), nil, nil)
	ok(t, err)
	if !created || rec.ID <= first.ID {
		t.Errorf("CreateDigestFor after the refusals = %+v, %v", rec, created)
	}
}

func testConcurrentCreators(t *testing.T, e *env) {
	const n = 6
	run := func(f func(i int) (syndicate.DigestRecord, bool, error)) ([]syndicate.DigestRecord, []bool, []error) {
		recs, created, errs := make([]syndicate.DigestRecord, n), make([]bool, n), make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				recs[i], created[i], errs[i] = f(i)
			}()
		}
		wg.Wait()
		return recs, created, errs
	}

	// Every replica's tick at once, each with the articles it found.
	recs, created, errs := run(func(int) (syndicate.DigestRecord, bool, error) {
		return e.st.CreateDigestFor(e.ctx, "tick:monday", items("wind", "library"), nil, nil)
	})
	made := 0
	for i := range n {
		ok(t, errs[i])
		if created[i] {
			made++
		}
		if recs[i].ID != recs[0].ID {
			t.Errorf("replica %d got digest %d, replica 0 digest %d", i, recs[i].ID, recs[0].ID)
		}
	}
	if made != 1 {
		t.Errorf("%d digests made for one slot, want 1", made)
	}

	// Runs by hand at once with different articles: each its own ID.
	recs, _, errs = run(func(i int) (syndicate.DigestRecord, bool, error) {
		return e.st.CreateDigestFor(e.ctx, "", items(fmt.Sprintf("own-%d", i)), nil, nil)
	})
	ids := map[int64]bool{recs[0].ID: true}
	for i := range n {
		ok(t, errs[i])
		ids[recs[i].ID] = true
	}
	if len(ids) != n {
		t.Errorf("IDs %v: want %d different", ids, n)
	}

	// Runs by hand at once with the same article: one digest has it.
	_, created, errs = run(func(int) (syndicate.DigestRecord, bool, error) {
		return e.st.CreateDigestFor(e.ctx, "", items("shared"), nil, nil)
	})
	made = 0
	for i := range n {
		switch {
		case errs[i] == nil && created[i]:
			made++
		case !errors.Is(errs[i], syndicate.ErrChanged):
			t.Errorf("creator %d: %v, want syndicate.ErrChanged", i, errs[i])
		}
	}
	if made != 1 {
		t.Errorf("%d digests carry the shared article, want 1", made)
	}
}

func testClaimPreparation(t *testing.T, e *env) {
	id, err := e.st.CreateDigest(e.ctx, items("wind"), nil)
	ok(t, err)
	claim := func(owner string) (bool, string) {
		t.Helper()
		claimed, state, err := e.st.ClaimPreparation(e.ctx, id, owner, lease)
		ok(t, err)
		return claimed, state
	}
	if c, s := claim("a"); !c || s != syndicate.DigestPreparing {
		t.Fatalf("a's claim = %v, %q; want it", c, s)
	}
	if c, s := claim("b"); c || s != syndicate.DigestPreparing {
		t.Errorf("b's claim while a holds it = %v, %q; want refused, preparing", c, s)
	}
	e.clock.Advance(lease - time.Second)
	if c, _ := claim("a"); !c {
		t.Error("a could not renew its claim")
	}
	e.clock.Advance(lease - time.Second)
	if c, _ := claim("b"); c {
		t.Error("b took a's renewed claim")
	}
	// a dies: its lease runs out and b takes over.
	e.clock.Advance(time.Second)
	if c, _ := claim("b"); !c {
		t.Error("b could not take a lapsed claim")
	}
	if c, _ := claim("a"); c {
		t.Error("a took back b's claim")
	}
	ok(t, e.st.StartDigest(e.ctx, id))
	if c, s := claim("b"); c || s != syndicate.DigestSending {
		t.Errorf("a claim of a digest sending = %v, %q; want refused, sending", c, s)
	}
	if c, s, err := e.st.ClaimPreparation(e.ctx, id+100, "a", lease); err != nil || c || s != "" {
		t.Errorf("a claim of no digest = %v, %q, %v", c, s, err)
	}
}

func testResetOnlyWhilePreparing(t *testing.T, e *env) {
	id := e.newDigest(t, "ada@example.org", "bob@example.org")
	ok(t, e.st.RecordOutcomes(e.ctx, id, []syndicate.Outcome{{Key: "ada@example.org", State: syndicate.DeliverySent}}))
	// A replica late to the digest (it read "preparing" before another
	// started sending) must not drop the outcomes.
	ok(t, e.st.ResetReaders(e.ctx, id))
	d, _, err := e.st.LastDigest(e.ctx)
	ok(t, err)
	if d.Sent != 1 || d.Pending != 1 {
		t.Errorf("after ResetReaders of a digest sending: %+v; want 1 sent, 1 pending", d)
	}
}

func (e *env) claim(t *testing.T, id int64, owner, after string, limit int) []string {
	t.Helper()
	list, err := e.st.ClaimDeliveries(e.ctx, id, owner, after, 3, limit, lease)
	ok(t, err)
	var keys []string
	for _, d := range list {
		keys = append(keys, d.Key)
	}
	return keys
}

func emails(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("reader%02d@example.org", i))
	}
	return out
}

func testClaimDeliveries(t *testing.T, e *env) {
	all := emails(25)
	id := e.newDigest(t, all...)
	list, err := e.st.ClaimDeliveries(e.ctx, id, "a", "", 3, 10, lease)
	ok(t, err)
	if len(list) != 10 || list[0].Key != all[0] || list[0].Reader.Name != "reader00" || list[0].Reader.Fields["city"] != "Oslo" || list[0].State != syndicate.DeliveryPending {
		t.Fatalf("a's claim = %+v", list)
	}
	a := make([]string, len(list))
	for i, d := range list {
		a[i] = d.Key
	}
	if !reflect.DeepEqual(a, all[:10]) {
		t.Errorf("a claimed %v, want the first 10 in key order", a)
	}
	if got := e.claim(t, id, "b", "", 10); !reflect.DeepEqual(got, all[10:20]) {
		t.Errorf("b claimed %v, want the next 10 (a holds the first)", got)
	}
	if got := e.claim(t, id, "c", "", 10); !reflect.DeepEqual(got, all[20:]) {
		t.Errorf("c claimed %v, want the last 5", got)
	}
	if got := e.claim(t, id, "d", "", 10); len(got) != 0 {
		t.Errorf("d claimed %v with every reader held", got)
	}
	// A claim counts for the others, not for its holder.
	count := func(owner string) int {
		t.Helper()
		n, err := e.st.ClaimedElsewhere(e.ctx, id, owner, 3)
		ok(t, err)
		return n
	}
	if got := count("a"); got != 15 {
		t.Errorf("ClaimedElsewhere(a) = %d, want 15", got)
	}
	// Outcomes end claims: a's readers are done, nobody's claim.
	var outcomes []syndicate.Outcome
	for _, k := range a {
		outcomes = append(outcomes, syndicate.Outcome{Key: k, State: syndicate.DeliverySent, Reply: "250 ok"})
	}
	ok(t, e.st.RecordOutcomes(e.ctx, id, outcomes))
	if got := count("b"); got != 5 {
		t.Errorf("ClaimedElsewhere(b) after a's outcomes = %d, want c's 5", got)
	}
	// c stops and gives its readers back: d takes them at once.
	if n, err := e.st.ReleaseClaims(e.ctx, id, "c"); err != nil || n != 5 {
		t.Errorf("ReleaseClaims(c) = %d, %v; want 5", n, err)
	}
	if got := e.claim(t, id, "d", "", 10); !reflect.DeepEqual(got, all[20:]) {
		t.Errorf("d claimed %v after c's release, want c's 5", got)
	}
	// b renews; d does not. After a lease, d's readers are free, b's not.
	e.clock.Advance(lease / 2)
	if n, err := e.st.RenewClaims(e.ctx, id, "b", lease); err != nil || n != 10 {
		t.Errorf("RenewClaims(b) = %d, %v; want 10", n, err)
	}
	e.clock.Advance(lease / 2)
	if got := e.claim(t, id, "a", "", 100); !reflect.DeepEqual(got, all[20:]) {
		t.Errorf("a claimed %v after d's lease ran out, want d's 5 (b renewed)", got)
	}
	// An owner's own readers are in hand: not claimable again, by it
	// either, even past their lease, until it gives them back (a restart
	// on SQLite, whose one owner is the lock's holder, starts so).
	if got := e.claim(t, id, "b", "", 100); len(got) != 0 {
		t.Errorf("b claimed %v, which it holds", got)
	}
	e.clock.Advance(lease)
	// Past the lease: a's readers are anyone's, b's own still not b's.
	if got := e.claim(t, id, "b", "", 100); !reflect.DeepEqual(got, all[20:]) {
		t.Errorf("b claimed %v past the leases, want a's 20-24 and none of its own", got)
	}
	if n, err := e.st.ReleaseClaims(e.ctx, id, "b"); err != nil || n != 15 {
		t.Errorf("ReleaseClaims(b) = %d, %v; want 15", n, err)
	}
	if got := e.claim(t, id, "b", all[14], 100); !reflect.DeepEqual(got, all[15:]) {
		t.Errorf("b claimed %v after %s once given back, want 15-24", got, all[14])
	}
	// maxAttempts 0: only readers never tried.
	ok(t, e.st.RecordOutcomes(e.ctx, id, []syndicate.Outcome{{Key: all[15], State: syndicate.DeliveryTemp, Reply: "451"}}))
	if _, err := e.st.ReleaseClaims(e.ctx, id, "b"); err != nil {
		t.Fatal(err)
	}
	list, err = e.st.ClaimDeliveries(e.ctx, id, "c", "", 0, 100, lease)
	ok(t, err)
	var never []string
	for _, d := range list {
		never = append(never, d.Key)
	}
	if want := append(append([]string(nil), all[10:15]...), all[16:]...); !reflect.DeepEqual(never, want) {
		t.Errorf("claimed %v with maxAttempts 0, want the readers never tried %v", never, want)
	}
	if n, err := e.st.RenewClaims(e.ctx, id, "nobody", lease); err != nil || n != 0 {
		t.Errorf("RenewClaims(nobody) = %d, %v", n, err)
	}
}

func testClaimsKeepThePendingRule(t *testing.T, e *env) {
	id := e.newDigest(t, "ada@example.org", "bob@example.org", "cy@example.org", "dee@example.org")
	ok(t, e.st.Unsubscribe(e.ctx, "dee@example.org"))
	got := e.claim(t, id, "a", "", 10)
	if want := []string{"ada@example.org", "bob@example.org", "cy@example.org"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("claimed %v, want %v (dee unsubscribed)", got, want)
	}
	// A temporary failure ends the claim: the reader is anyone's again,
	// until its attempts reach the limit.
	ok(t, e.st.RecordOutcomes(e.ctx, id, []syndicate.Outcome{
		{Key: "ada@example.org", State: syndicate.DeliveryTemp, Reply: "451"},
		{Key: "bob@example.org", State: syndicate.DeliveryFailed, Reply: "550"},
	}))
	list, err := e.st.ClaimDeliveries(e.ctx, id, "b", "", 3, 10, lease)
	ok(t, err)
	if len(list) != 1 || list[0].Key != "ada@example.org" || list[0].State != syndicate.DeliveryTemp || list[0].Attempts != 1 {
		t.Errorf("b claimed %+v, want ada after one temporary failure", list)
	}
	for i := 0; i < 2; i++ {
		ok(t, e.st.RecordOutcomes(e.ctx, id, []syndicate.Outcome{{Key: "ada@example.org", State: syndicate.DeliveryTemp, Reply: "451"}}))
	}
	if got := e.claim(t, id, "b", "", 10); len(got) != 0 {
		t.Errorf("claimed %v: ada has 3 attempts of 3", got)
	}
	if n, err := e.st.ClaimedElsewhere(e.ctx, id, "b", 3); err != nil || n != 1 {
		t.Errorf("ClaimedElsewhere = %d, %v; want a's claim on cy", n, err)
	}
}

func testConcurrentClaims(t *testing.T, e *env) {
	all := emails(90)
	id := e.newDigest(t, all...)
	const owners = 5
	got := make([][]string, owners)
	var wg sync.WaitGroup
	for i := range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("replica-%d", i)
			after := ""
			for {
				list, err := e.st.ClaimDeliveries(e.ctx, id, owner, after, 3, 7, lease)
				if err != nil {
					t.Error(err)
					return
				}
				if len(list) == 0 {
					return
				}
				for _, d := range list {
					got[i] = append(got[i], d.Key)
				}
				after = list[len(list)-1].Key
			}
		}()
	}
	wg.Wait()
	var union []string
	seen := map[string]int{}
	for i := range owners {
		for _, k := range got[i] {
			seen[k]++
			union = append(union, k)
		}
	}
	sort.Strings(union)
	for k, n := range seen {
		if n > 1 {
			t.Errorf("%s claimed %d times", k, n)
		}
	}
	if !reflect.DeepEqual(union, all) {
		t.Errorf("%d readers claimed in all, want each of the %d once", len(union), len(all))
	}
}

func testSenders(t *testing.T, e *env) {
	id := e.newDigest(t, emails(6)...)
	for _, owner := range []string{"a", "b"} {
		list, err := e.st.ClaimDeliveries(e.ctx, id, owner, "", 3, 3, lease)
		ok(t, err)
		var outcomes []syndicate.Outcome
		for i, d := range list {
			state := syndicate.DeliverySent
			if owner == "b" && i == 0 {
				state = syndicate.DeliveryFailed
			}
			outcomes = append(outcomes, syndicate.Outcome{Key: d.Key, State: state})
		}
		ok(t, e.st.RecordOutcomes(e.ctx, id, outcomes))
	}
	got, err := e.st.Senders(e.ctx, id)
	ok(t, err)
	if want := map[string]int{"a": 3, "b": 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("Senders = %v, want %v", got, want)
	}
}
