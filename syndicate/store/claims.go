package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// Replicas share one state (PostgreSQL) and one digest: each replica's
// tick finds the one issue of its schedule slot (CreateDigestFor); one
// replica at a time prepares its reader list (ClaimPreparation); readers
// are claimed in batches (ClaimDeliveries) under a lease that the holder
// renews (RenewClaims) and gives back when it stops (ReleaseClaims); a
// dead replica's claims are taken again when their lease runs out. On
// SQLite the same methods do the same, for the one process that holds
// the state's lock.
//
// Leases are stamped with the store's clock (Options.Now): replicas'
// clocks must agree to well within a lease (NTP does).

// seqDigests is the counter row digest IDs are taken from.
const seqDigests = "digests"

// leaseLayout writes a lease's end: fixed width in UTC, so that comparing
// two as text compares them as times (RFC 3339 with a varying fraction,
// as timeLayout writes, does not: "…:05Z" sorts after "…:05.5Z").
const leaseLayout = "2006-01-02T15:04:05.000000000Z"

func leaseStamp(t time.Time) string { return t.UTC().Format(leaseLayout) }

// errSlotTaken rolls back a creation whose slot has its digest already.
var errSlotTaken = errors.New("slot taken")

// CreateDigestFor fixes the digest of a schedule slot unless the slot has
// one already: then it returns that digest, created false, and changes
// nothing. An empty slot (a run asked for by hand) always makes a new
// digest. Creations take turns on the ID counter's row, and each checks,
// in its turn, that none of its articles went into another digest
// meanwhile: if one did, it writes nothing and returns
// syndicate.ErrChanged (choose the articles again). The notices (as
// PendingNotices read them) are carried by the new digest, in the same
// transaction and by the same rule: one another digest carried meanwhile
// is ErrChanged too, so each is carried exactly once.
func (s *DB) CreateDigestFor(ctx context.Context, slot string, items []syndicate.DigestItem, omitted []string, notices []syndicate.Notice) (syndicate.DigestRecord, bool, error) {
	var rec syndicate.DigestRecord
	err := s.tx(ctx, func(t txn) error {
		// The counter's row lock is the creators' turn: a second replica
		// waits here until the first commits, then sees its digest.
		var id int64
		if err := t.queryRow(ctx, `UPDATE sequences SET value = value + 1 WHERE name = ? RETURNING value`, seqDigests).Scan(&id); err != nil {
			return fmt.Errorf("state: the digest counter: %w", err)
		}
		if slot != "" {
			var err error
			rec, err = scanDigest(t.queryRow(ctx, selectDigest+` WHERE slot = ?`, slot))
			if err == nil {
				return errSlotTaken
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if err := notDigested(ctx, t, append(itemIDs(items), omitted...)); err != nil {
			return err
		}
		now := s.stamp()
		if _, err := t.exec(ctx, `INSERT INTO digests (id, state, created_at, omitted, slot) VALUES (?, ?, ?, ?, ?)`,
			id, syndicate.DigestPreparing, now, len(omitted), sql.NullString{String: slot, Valid: slot != ""}); err != nil {
			return err
		}
		for _, a := range omitted {
			if _, err := t.exec(ctx, `INSERT INTO digest_skips (article_id, digest_id, reason, at) VALUES (?, ?, ?, ?)`,
				a, id, skipOverMax, now); err != nil {
				return err
			}
		}
		for i, it := range items {
			b, err := json.Marshal(it)
			if err != nil {
				return err
			}
			if _, err := t.exec(ctx, `INSERT INTO digest_articles (digest_id, article_id, position, item) VALUES (?, ?, ?, ?)`,
				id, it.ID, i, string(b)); err != nil {
				return err
			}
		}
		for _, n := range notices {
			c, err := t.count(ctx, `UPDATE notices SET digest_id = ? WHERE article_id = ? AND kind = ? AND text = ? AND digest_id IS NULL`,
				id, n.ArticleID, n.Kind, n.Text)
			if err != nil {
				return err
			}
			if c != 1 {
				return fmt.Errorf("the %s of article %s is in a digest already: %w", n.Kind, n.ArticleID, syndicate.ErrChanged)
			}
		}
		rec = syndicate.DigestRecord{ID: id, State: syndicate.DigestPreparing, Omitted: len(omitted)}
		var err error
		rec.CreatedAt, err = parseTime(digestWhat(id, "created_at"), now)
		return err
	})
	switch {
	case errors.Is(err, errSlotTaken):
		return rec, false, nil
	case err != nil:
		return syndicate.DigestRecord{}, false, err
	}
	return rec, true, nil
}

// notDigested returns syndicate.ErrChanged, naming the first, when any
// of the articles is in a digest or counted as mailed already: a query
// for up to inBatch of them at a time, in the creators' turn, rather
// than one for each.
func notDigested(ctx context.Context, t txn, ids []string) error {
	digested := map[string]bool{}
	for start := 0; start < len(ids); start += inBatch {
		batch := ids[start:min(start+inBatch, len(ids))]
		args := make([]any, 0, 2*len(batch))
		for range 2 {
			for _, a := range batch {
				args = append(args, a)
			}
		}
		in := placeholders(len(batch))
		rows, err := t.query(ctx, `SELECT article_id FROM digest_articles WHERE article_id IN (`+in+`)
			UNION SELECT article_id FROM digest_skips WHERE article_id IN (`+in+`)`, args...)
		if err != nil {
			return err
		}
		found, err := scanStrings(rows)
		if err != nil {
			return err
		}
		for _, a := range found {
			digested[a] = true
		}
	}
	for _, a := range ids {
		if digested[a] {
			return fmt.Errorf("article %s is in a digest already: %w", a, syndicate.ErrChanged)
		}
	}
	return nil
}

// inBatch bounds an IN list's parameters well below either database's
// limit on a statement's (SQLite: 32766; PostgreSQL: 65535).
const inBatch = 500

// placeholders is n parameters for an IN list: "?, ?, ?".
func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func itemIDs(items []syndicate.DigestItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// ClaimPreparation gives owner the preparation of a digest's reader list
// for lease, unless another owner holds it under a lease not run out;
// owner calls it again to renew. It returns whether owner holds it now,
// and the digest's state ("" when there is no such digest): only a digest
// preparing can be claimed.
func (s *DB) ClaimPreparation(ctx context.Context, digestID int64, owner string, lease time.Duration) (bool, string, error) {
	var claimed bool
	var state string
	err := s.tx(ctx, func(t txn) error {
		now := s.now()
		n, err := t.count(ctx, `UPDATE digests SET claimed_by = ?, claimed_until = ?
			WHERE id = ? AND state = ? AND (claimed_until IS NULL OR claimed_until <= ? OR claimed_by = ?)`,
			owner, leaseStamp(now.Add(lease)), digestID, syndicate.DigestPreparing, leaseStamp(now), owner)
		if err != nil {
			return err
		}
		claimed = n == 1
		err = t.queryRow(ctx, `SELECT state FROM digests WHERE id = ?`, digestID).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return false, "", err
	}
	return claimed, state, nil
}

// unclaimed is the condition on deliveries d that owner may claim: no
// claim, or another's claim whose lease ran out at ?. Its parameters are
// now and owner. A reader owner claimed stays its own, even past the
// lease: it may be in hand (a replica stalled longer than its renewals),
// and owner must never mail it twice. Owner gives back what it holds
// when it stops (ReleaseClaims); on SQLite, whose one owner outlives a
// restart, a run starts by giving back what the last one held.
const unclaimed = `(d.claimed_until IS NULL OR (d.claimed_until <= ? AND d.claimed_by <> ?))`

// ClaimDeliveries claims for owner, for lease, up to limit readers of a
// digest in EmailKey order after afterKey that have no final outcome
// (maxAttempts 0: only readers never tried), are not unsubscribed and are
// not held by anyone under a lease not run out. Replicas claiming at once get different readers (PostgreSQL:
// FOR UPDATE SKIP LOCKED). A claim ends with the reader's outcome
// (RecordOutcomes), its release, or its lease.
func (s *DB) ClaimDeliveries(ctx context.Context, digestID int64, owner, afterKey string, maxAttempts, limit int, lease time.Duration) ([]syndicate.Delivery, error) {
	var out []syndicate.Delivery
	err := s.tx(ctx, func(t txn) error {
		now := s.now()
		// Two statements, not UPDATE … WHERE key IN (SELECT … LIMIT n FOR
		// UPDATE SKIP LOCKED): PostgreSQL may run such a subquery again for
		// each row, each time skipping the rows the UPDATE has just taken,
		// and so claim every reader.
		args := append([]any{digestID, afterKey}, pendingArgs(maxAttempts)...)
		args = append(args, leaseStamp(now), owner, limit)
		rows, err := t.query(ctx, selectPending+` AND `+unclaimed+`
			ORDER BY d.email_key LIMIT ?`+s.dialect.skipLocked, args...)
		if err != nil {
			return err
		}
		if out, err = scanDeliveries(rows); err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
		keys := make([]any, 0, 3+len(out))
		keys = append(keys, owner, leaseStamp(now.Add(lease)), digestID)
		for _, d := range out {
			keys = append(keys, d.Key)
		}
		_, err = t.exec(ctx, `UPDATE deliveries SET claimed_by = ?, claimed_until = ? WHERE digest_id = ? AND email_key IN (`+
			placeholders(len(out))+`)`, keys...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("state: claiming readers: %w", err)
	}
	return out, nil
}

// RenewClaims extends owner's claims on a digest's readers that have no
// outcome yet to lease from now; it returns how many it extended.
func (s *DB) RenewClaims(ctx context.Context, digestID int64, owner string, lease time.Duration) (int, error) {
	var n int
	err := s.tx(ctx, func(t txn) error {
		var err error
		// Rows locked meanwhile are being recorded (their claim ends) or
		// taken by another replica (the lease ran out): they are skipped,
		// rather than waited for — waiting could deadlock with the outcome
		// writer, which updates the same rows in its own order.
		n, err = t.count(ctx, `UPDATE deliveries SET claimed_until = ? WHERE digest_id = ? AND email_key IN (
			SELECT email_key FROM deliveries WHERE digest_id = ? AND claimed_by = ? AND claimed_until IS NOT NULL`+s.dialect.skipLocked+`)`,
			leaseStamp(s.now().Add(lease)), digestID, digestID, owner)
		return err
	})
	return n, err
}

// ReleaseClaims gives back owner's claims on a digest's readers that have
// no outcome yet (a send that stops), so that others take them at once;
// it returns how many.
func (s *DB) ReleaseClaims(ctx context.Context, digestID int64, owner string) (int, error) {
	var n int
	err := s.tx(ctx, func(t txn) error {
		var err error
		n, err = t.count(ctx, `UPDATE deliveries SET claimed_until = NULL WHERE digest_id = ? AND claimed_by = ? AND claimed_until IS NOT NULL`,
			digestID, owner)
		return err
	})
	return n, err
}

// ClaimedElsewhere counts a digest's readers with no final outcome that
// another owner holds under a lease not run out: they are being mailed
// elsewhere, or will be free when the lease ends.
func (s *DB) ClaimedElsewhere(ctx context.Context, digestID int64, owner string, maxAttempts int) (int, error) {
	var n int
	args := append([]any{digestID}, pendingArgs(maxAttempts)...)
	err := s.queryRow(ctx, countPending+` AND d.claimed_until > ? AND d.claimed_by <> ?`,
		append(args, leaseStamp(s.now()), owner)...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("state: %w", err)
	}
	return n, nil
}

// Senders counts a digest's readers mailed, by the owner that mailed
// them ("" for those mailed before claims were kept).
func (s *DB) Senders(ctx context.Context, digestID int64) (map[string]int, error) {
	rows, err := s.query(ctx, `SELECT claimed_by, COUNT(*) FROM deliveries WHERE digest_id = ? AND state = ? GROUP BY claimed_by`,
		digestID, syndicate.DeliverySent)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var owner string
		var n int
		if err := rows.Scan(&owner, &n); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		out[owner] = n
	}
	return out, rows.Err()
}
