package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// A digest's row holds its state (syndicate.DigestPreparing,
// DigestSending, DigestDone); its articles are fixed when it is created
// and its readers while it is prepared; each reader's delivery holds its
// state (syndicate.DeliveryPending, DeliverySent, DeliveryTemp,
// DeliveryFailed) and attempts. Articles counted as mailed without being
// in a digest in full are digest skips, for one of these reasons:
const (
	skipAdopted = "adopted"           // adopted with --mark-posted
	skipOverMax = "over_max_articles" // beyond a digest's email.max_articles
)

// DigestedArticles returns the IDs of the articles in any digest, sent or
// being sent, and of those counted as mailed: they never go into a new
// one.
func (s *DB) DigestedArticles(ctx context.Context) (map[string]bool, error) {
	rows, err := s.query(ctx, `SELECT article_id FROM digest_articles UNION SELECT article_id FROM digest_skips`)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// OpenDigest returns the digest that is not done (being prepared or sent),
// if there is one.
func (s *DB) OpenDigest(ctx context.Context) (syndicate.DigestRecord, bool, error) {
	d, err := scanDigest(s.queryRow(ctx, selectDigest+` WHERE state <> ? ORDER BY id LIMIT 1`, syndicate.DigestDone))
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, false, err
	}
	return d, true, nil
}

// selectDigest selects a digest's row as scanDigest reads it.
const selectDigest = `SELECT id, state, created_at, omitted FROM digests`

// scanDigest reads a selectDigest row; its errors say "state:" (and
// sql.ErrNoRows is one).
func scanDigest(row *sql.Row) (syndicate.DigestRecord, error) {
	var d syndicate.DigestRecord
	var created string
	if err := row.Scan(&d.ID, &d.State, &created, &d.Omitted); err != nil {
		return d, fmt.Errorf("state: %w", err)
	}
	var err error
	d.CreatedAt, err = parseTime(digestWhat(d.ID, "created_at"), created)
	return d, err
}

func digestWhat(id int64, column string) string {
	return "digest " + strconv.FormatInt(id, 10) + " " + column
}

// CreateDigest fixes a new digest's articles: items are mailed in full,
// omitted (article IDs beyond email.max_articles) are listed in one line
// and count as mailed too. Its readers are added with AddReaders, then
// StartDigest marks it ready to send. It is CreateDigestFor with no slot
// (see claims.go).
func (s *DB) CreateDigest(ctx context.Context, items []syndicate.DigestItem, omitted []string) (int64, error) {
	rec, _, err := s.CreateDigestFor(ctx, "", items, omitted, nil)
	return rec.ID, err
}

// PendingNotices returns up to limit corrections and retractions no
// digest carries yet (the next digest's), oldest first.
func (s *DB) PendingNotices(ctx context.Context, limit int) ([]syndicate.Notice, error) {
	return s.notices(ctx, `digest_id IS NULL ORDER BY at, article_id, kind, text LIMIT ?`, limit)
}

// DigestNotices returns the corrections and retractions a digest
// carries, in the order they were made.
func (s *DB) DigestNotices(ctx context.Context, digestID int64) ([]syndicate.Notice, error) {
	return s.notices(ctx, `digest_id = ? ORDER BY at, article_id, kind, text`, digestID)
}

func (s *DB) notices(ctx context.Context, where string, arg any) ([]syndicate.Notice, error) {
	rows, err := s.query(ctx, `SELECT article_id, kind, text, title, url, at FROM notices WHERE `+where, arg)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	var out []syndicate.Notice
	for rows.Next() {
		var n syndicate.Notice
		var at string
		if err := rows.Scan(&n.ArticleID, &n.Kind, &n.Text, &n.Title, &n.URL, &at); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		if n.At, err = parseTime("notice of "+n.ArticleID+" at", at); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// DigestItems returns a digest's fixed articles in order.
func (s *DB) DigestItems(ctx context.Context, digestID int64) ([]syndicate.DigestItem, error) {
	rows, err := s.query(ctx, `SELECT item FROM digest_articles WHERE digest_id = ? ORDER BY position`, digestID)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	var out []syndicate.DigestItem
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		var it syndicate.DigestItem
		if err := json.Unmarshal([]byte(raw), &it); err != nil {
			return nil, fmt.Errorf("state: digest %d item: %w", digestID, err)
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// ResetReaders drops the reader list of a digest still being prepared
// (an interrupted preparation starts over).
func (s *DB) ResetReaders(ctx context.Context, digestID int64) error {
	return s.tx(ctx, func(t txn) error {
		// Only while it is prepared: a replica late to a digest another
		// has started sending must never drop its outcomes.
		_, err := t.exec(ctx, `DELETE FROM deliveries WHERE digest_id = ?
			AND EXISTS (SELECT 1 FROM digests g WHERE g.id = ? AND g.state = ?)`, digestID, digestID, syndicate.DigestPreparing)
		return err
	})
}

// AddReaders adds readers to a digest being prepared, skipping the
// unsubscribed and addresses already in it. It returns how many it added.
func (s *DB) AddReaders(ctx context.Context, digestID int64, readers []syndicate.Reader) (int, error) {
	added := 0
	err := s.tx(ctx, func(t txn) error {
		added = 0
		stmt, err := t.prepare(ctx, `INSERT INTO deliveries (digest_id, email_key, email, fields, state)
			SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM unsubscribes WHERE email_key = ?)
			ON CONFLICT (digest_id, email_key) DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range readers {
			key := syndicate.EmailKey(r.Email)
			fields, err := json.Marshal(r.Fields)
			if err != nil {
				return err
			}
			res, err := stmt.ExecContext(ctx, digestID, key, r.Email, string(fields), syndicate.DeliveryPending, key)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			added += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}

// StartDigest marks a prepared digest ready to send.
func (s *DB) StartDigest(ctx context.Context, digestID int64) error {
	err := s.tx(ctx, func(t txn) error {
		_, err := t.exec(ctx, `UPDATE digests SET state = ? WHERE id = ?`, syndicate.DigestSending, digestID)
		return err
	})
	if err == nil {
		s.refreshStatistics(ctx)
	}
	return err
}

// FinishDigest marks a digest done: every reader has an outcome.
func (s *DB) FinishDigest(ctx context.Context, digestID int64) error {
	return s.tx(ctx, func(t txn) error {
		_, err := t.exec(ctx, `UPDATE digests SET state = ?, completed_at = ? WHERE id = ?`, syndicate.DigestDone, s.stamp(), digestID)
		return err
	})
}

// pendingWhere is the condition on deliveries d with no final outcome: never
// tried, or a temporary failure with fewer than the allowed attempts, and
// not unsubscribed. Its parameters are pendingArgs.
const pendingWhere = `(d.state = ? OR (d.state = ? AND d.attempts < ?))
	AND NOT EXISTS (SELECT 1 FROM unsubscribes u WHERE u.email_key = d.email_key)`

func pendingArgs(maxAttempts int) []any {
	return []any{syndicate.DeliveryPending, syndicate.DeliveryTemp, maxAttempts}
}

// PendingDeliveries returns up to limit readers of a digest after the
// given key who have no final outcome (never tried, or a temporary failure
// with fewer than maxAttempts attempts), skipping the unsubscribed.
func (s *DB) PendingDeliveries(ctx context.Context, digestID int64, afterKey string, maxAttempts, limit int) ([]syndicate.Delivery, error) {
	args := append([]any{digestID, afterKey}, pendingArgs(maxAttempts)...)
	rows, err := s.query(ctx, selectPending+` ORDER BY d.email_key LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	out, err := scanDeliveries(rows)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	return out, nil
}

// selectPending selects the deliveries d of a digest after a key with no
// final outcome, as scanDeliveries reads them. Its parameters are the
// digest's ID, the key, then pendingArgs.
const selectPending = `SELECT d.email_key, d.email, d.fields, d.state, d.attempts FROM deliveries d
		WHERE d.digest_id = ? AND d.email_key > ? AND ` + pendingWhere

// scanDeliveries reads, and closes, the rows of a selectPending query.
func scanDeliveries(rows *sql.Rows) ([]syndicate.Delivery, error) {
	defer rows.Close()
	var out []syndicate.Delivery
	for rows.Next() {
		var d syndicate.Delivery
		var fields string
		if err := rows.Scan(&d.Key, &d.Reader.Email, &fields, &d.State, &d.Attempts); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(fields), &d.Reader.Fields); err != nil {
			return nil, fmt.Errorf("reader fields: %w", err)
		}
		d.Reader.Name = d.Reader.Fields["name"]
		out = append(out, d)
	}
	return out, rows.Err()
}

// countPending counts a digest's deliveries d with no final outcome. Its
// parameters are the digest's ID, then pendingArgs.
const countPending = `SELECT COUNT(*) FROM deliveries d WHERE d.digest_id = ? AND ` + pendingWhere

// CountPending counts the readers of a digest with no final outcome, as
// PendingDeliveries would list them.
func (s *DB) CountPending(ctx context.Context, digestID int64, maxAttempts int) (int, error) {
	var n int
	err := s.queryRow(ctx, countPending, append([]any{digestID}, pendingArgs(maxAttempts)...)...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("state: %w", err)
	}
	return n, nil
}

// RecordOutcomes records a batch of delivery outcomes in one transaction.
// A reader's claim ends with its outcome (claimed_by stays: who mailed it).
func (s *DB) RecordOutcomes(ctx context.Context, digestID int64, outcomes []syndicate.Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	return s.tx(ctx, func(t txn) error {
		stmt, err := t.prepare(ctx, `UPDATE deliveries SET state = ?, attempts = attempts + 1, reply = ?, updated_at = ?, claimed_until = NULL
			WHERE digest_id = ? AND email_key = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		now := s.stamp()
		for _, o := range outcomes {
			if _, err := stmt.ExecContext(ctx, o.State, o.Reply, now, digestID, o.Key); err != nil {
				return err
			}
		}
		return nil
	})
}

// GiveUp records as failed the readers of a digest whose temporary
// failures reached maxAttempts; it returns how many.
func (s *DB) GiveUp(ctx context.Context, digestID int64, maxAttempts int) (int, error) {
	var n int
	err := s.tx(ctx, func(t txn) error {
		var err error
		n, err = t.count(ctx, `UPDATE deliveries SET state = ?, reply = 'gave up after repeated temporary failures: ' || reply
			WHERE digest_id = ? AND state = ? AND attempts >= ?`, syndicate.DeliveryFailed, digestID, syndicate.DeliveryTemp, maxAttempts)
		return err
	})
	return n, err
}

// RetryFailed makes a digest's permanently failed readers pending again,
// and the digest sending when there are any.
func (s *DB) RetryFailed(ctx context.Context, digestID int64) (int, error) {
	var n int
	err := s.tx(ctx, func(t txn) error {
		var err error
		n, err = t.count(ctx, `UPDATE deliveries SET state = ?, attempts = 0 WHERE digest_id = ? AND state = ?`,
			syndicate.DeliveryPending, digestID, syndicate.DeliveryFailed)
		if err != nil || n == 0 {
			return err
		}
		_, err = t.exec(ctx, `UPDATE digests SET state = ? WHERE id = ?`, syndicate.DigestSending, digestID)
		return err
	})
	return n, err
}

// LastDigest returns the newest digest.
func (s *DB) LastDigest(ctx context.Context) (syndicate.DigestRecord, bool, error) {
	list, err := s.Digests(ctx, 1)
	if err != nil || len(list) == 0 {
		return syndicate.DigestRecord{}, false, err
	}
	return list[0], true, nil
}

// Digests returns the newest digests with their delivery counts. A
// reader who unsubscribed before being mailed counts as none of sent,
// failed or pending: no message will go to them.
func (s *DB) Digests(ctx context.Context, limit int) ([]syndicate.DigestRecord, error) {
	rows, err := s.query(ctx, `SELECT g.id, g.state, g.created_at, COALESCE(g.completed_at, ''), g.omitted,
		(SELECT COUNT(*) FROM digest_articles a WHERE a.digest_id = g.id),
		(SELECT COUNT(*) FROM deliveries d WHERE d.digest_id = g.id AND d.state = ?),
		(SELECT COUNT(*) FROM deliveries d WHERE d.digest_id = g.id AND d.state = ?),
		(SELECT COUNT(*) FROM deliveries d WHERE d.digest_id = g.id AND d.state IN (?, ?)
			AND NOT EXISTS (SELECT 1 FROM unsubscribes u WHERE u.email_key = d.email_key))
		FROM digests g ORDER BY g.id DESC LIMIT ?`,
		syndicate.DeliverySent, syndicate.DeliveryFailed, syndicate.DeliveryPending, syndicate.DeliveryTemp, limit)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	var out []syndicate.DigestRecord
	for rows.Next() {
		var d syndicate.DigestRecord
		var created, completed string
		if err := rows.Scan(&d.ID, &d.State, &created, &completed, &d.Omitted, &d.Articles, &d.Sent, &d.Failed, &d.Pending); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		if d.CreatedAt, err = parseTime(digestWhat(d.ID, "created_at"), created); err != nil {
			return nil, err
		}
		if d.CompletedAt, err = parseTime(digestWhat(d.ID, "completed_at"), completed); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
