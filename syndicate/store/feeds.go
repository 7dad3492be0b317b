package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// The feeds table keeps each feed's last answer; feed_items every item
// seen, as the article it became (JSON), with the time it was first seen.

// FeedStates returns what is kept of every feed, by name.
func (s *DB) FeedStates(ctx context.Context) (map[string]syndicate.FeedState, error) {
	rows, err := s.query(ctx, `SELECT name, url, etag, last_modified, COALESCE(fetched_at, ''), COALESCE(adopted_at, ''), COALESCE(retry_at, ''), problem FROM feeds`)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	out := map[string]syndicate.FeedState{}
	for rows.Next() {
		var name, fetched, adopted, retry string
		var st syndicate.FeedState
		if err := rows.Scan(&name, &st.URL, &st.ETag, &st.LastModified, &fetched, &adopted, &retry, &st.Problem); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		if st.FetchedAt, err = parseTime("feed "+name+" fetched_at", fetched); err != nil {
			return nil, err
		}
		if st.AdoptedAt, err = parseTime("feed "+name+" adopted_at", adopted); err != nil {
			return nil, err
		}
		if st.RetryAt, err = parseTime("feed "+name+" retry_at", retry); err != nil {
			return nil, err
		}
		out[name] = st
	}
	return out, rows.Err()
}

// FeedItems returns every feed item kept, oldest first seen first.
func (s *DB) FeedItems(ctx context.Context) ([]*syndicate.Article, error) {
	rows, err := s.query(ctx, `SELECT id, first_seen, article FROM feed_items ORDER BY first_seen, id`)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	var out []*syndicate.Article
	for rows.Next() {
		var id, seen, doc string
		if err := rows.Scan(&id, &seen, &doc); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		a := &syndicate.Article{}
		if err := json.Unmarshal([]byte(doc), a); err != nil {
			return nil, fmt.Errorf("state: feed item %s: %w", id, err)
		}
		if a.ModTime, err = parseTime("feed item "+id+" first_seen", seen); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// RecordFetch keeps a fetch of a feed, its items and its adoption in one
// transaction.
func (s *DB) RecordFetch(ctx context.Context, name string, st syndicate.FeedState, items, adopt []*syndicate.Article) error {
	return s.tx(ctx, func(t txn) error {
		now := s.stamp()
		if _, err := t.exec(ctx, `INSERT INTO feeds (name, url, etag, last_modified, fetched_at, adopted_at, retry_at, problem, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET url = excluded.url, etag = excluded.etag, last_modified = excluded.last_modified,
				fetched_at = excluded.fetched_at, adopted_at = excluded.adopted_at, retry_at = excluded.retry_at,
				problem = excluded.problem, updated_at = excluded.updated_at`,
			name, st.URL, st.ETag, st.LastModified, nullTime(st.FetchedAt), nullTime(st.AdoptedAt), nullTime(st.RetryAt), st.Problem, now); err != nil {
			return err
		}
		if len(items) > 0 {
			stmt, err := t.prepare(ctx, `INSERT INTO feed_items (id, feed, url, hash, first_seen, article) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET url = excluded.url, hash = excluded.hash, article = excluded.article
				WHERE feed_items.hash <> excluded.hash`)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for _, a := range items {
				doc, err := json.Marshal(a)
				if err != nil {
					return fmt.Errorf("feed item %s: %w", a.ID, err)
				}
				seen := a.ModTime
				if seen.IsZero() {
					seen = s.now()
				}
				if _, err := stmt.ExecContext(ctx, a.ID, name, a.URL, a.Hash, formatTime(seen), string(doc)); err != nil {
					return fmt.Errorf("feed item %s: %w", a.ID, err)
				}
			}
		}
		// Adopted everywhere: a network configured later does not post a
		// feed's old items either.
		_, _, err := s.adopt(ctx, t, adopt, syndicate.AllNetworks, true)
		return err
	})
}

// nullTime is a time for a nullable column: NULL when zero.
func nullTime(t time.Time) sql.NullString {
	return sql.NullString{String: formatTime(t), Valid: !t.IsZero()}
}
