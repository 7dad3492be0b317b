package store

import (
	"context"
	"fmt"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// An article's row holds its state (syndicate.StatePosting, StatePosted,
// StateFailed, StateAdopted); its posts' rows hold each post's planned
// text and, once known, the status it became.

// ArticleRecords returns what is recorded of every article, by ID.
func (s *DB) ArticleRecords(ctx context.Context) (map[string]syndicate.ArticleRecord, error) {
	rows, err := s.query(ctx, `SELECT a.id, a.state, a.hash, a.failed_hash, a.reason, a.head_url, a.updated_at,
		(SELECT COUNT(*) FROM posts p WHERE p.article_id = a.id AND p.status_id IS NOT NULL),
		(SELECT COUNT(*) FROM posts p WHERE p.article_id = a.id),
		COALESCE((SELECT p.posted_at FROM posts p WHERE p.article_id = a.id AND p.idx = 0), '')
		FROM articles a`)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	out := map[string]syndicate.ArticleRecord{}
	for rows.Next() {
		var r syndicate.ArticleRecord
		var updated, posted string
		if err := rows.Scan(&r.ID, &r.State, &r.Hash, &r.FailedHash, &r.Reason, &r.HeadURL, &updated, &r.PostsDone, &r.PostsPlanned, &posted); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		if r.UpdatedAt, err = parseTime("article "+r.ID+" updated_at", updated); err != nil {
			return nil, err
		}
		if r.PostedAt, err = parseTime("article "+r.ID+" posted_at", posted); err != nil {
			return nil, err
		}
		out[r.ID] = r
	}
	return out, rows.Err()
}

// PlanThread records the thread an article will be posted as, before the
// first post goes out, so a resumed run posts the same texts. When a plan
// exists (a resumed or retried article), posts already made or in doubt
// are kept and the rest are replaced by the new plan.
func (s *DB) PlanThread(ctx context.Context, articleID, hash string, posts []syndicate.PlannedPost) error {
	return s.tx(ctx, func(t txn) error {
		if _, err := t.exec(ctx, `INSERT INTO articles (id, state, hash, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET state = excluded.state, hash = excluded.hash, reason = '', updated_at = excluded.updated_at`,
			articleID, syndicate.StatePosting, hash, s.stamp()); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM posts WHERE article_id = ? AND status_id IS NULL AND attempted_at IS NULL`, articleID); err != nil {
			return err
		}
		stmt, err := t.prepare(ctx, `INSERT INTO posts (article_id, idx, text, spoiler, visibility, language, media_file, media_alt, idem_key)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (article_id, idx) DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, p := range posts {
			// A post made, or in doubt, is still there: its recorded text stays.
			if _, err := stmt.ExecContext(ctx, articleID, p.Index, p.Text, p.ContentWarning, p.Visibility, p.Language, p.MediaFile, p.MediaAlt, p.IdempotencyKey); err != nil {
				return err
			}
		}
		return nil
	})
}

// PlannedPosts returns an article's planned posts in order, with what is
// known of each.
func (s *DB) PlannedPosts(ctx context.Context, articleID string) ([]syndicate.PlannedPost, error) {
	rows, err := s.query(ctx, `SELECT idx, text, spoiler, visibility, language, media_file, media_alt, idem_key,
		COALESCE(attempted_at, ''), COALESCE(status_id, ''), COALESCE(url, '') FROM posts WHERE article_id = ? ORDER BY idx`, articleID)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	var out []syndicate.PlannedPost
	for rows.Next() {
		var p syndicate.PlannedPost
		var attempted string
		if err := rows.Scan(&p.Index, &p.Text, &p.ContentWarning, &p.Visibility, &p.Language, &p.MediaFile, &p.MediaAlt, &p.IdempotencyKey, &attempted, &p.StatusID, &p.URL); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		if p.AttemptedAt, err = parseTime(fmt.Sprintf("article %s post %d attempted_at", articleID, p.Index+1), attempted); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// MarkAttempt records that a post is about to be sent: from here until
// RecordPost its outcome is unknown if the process dies.
func (s *DB) MarkAttempt(ctx context.Context, articleID string, idx int) error {
	return s.tx(ctx, func(t txn) error {
		_, err := t.exec(ctx, `UPDATE posts SET attempted_at = COALESCE(attempted_at, ?) WHERE article_id = ? AND idx = ?`, s.stamp(), articleID, idx)
		return err
	})
}

// RecordPost records the status a post became.
func (s *DB) RecordPost(ctx context.Context, articleID string, idx int, statusID, statusURL string) error {
	return s.tx(ctx, func(t txn) error {
		now := s.stamp()
		if _, err := t.exec(ctx, `UPDATE posts SET status_id = ?, url = ?, posted_at = ? WHERE article_id = ? AND idx = ?`, statusID, statusURL, now, articleID, idx); err != nil {
			return err
		}
		if idx == 0 {
			_, err := t.exec(ctx, `UPDATE articles SET head_url = ?, updated_at = ? WHERE id = ?`, statusURL, now, articleID)
			return err
		}
		return nil
	})
}

// FinishArticle marks an article posted.
func (s *DB) FinishArticle(ctx context.Context, articleID string) error {
	return s.tx(ctx, func(t txn) error {
		_, err := t.exec(ctx, `UPDATE articles SET state = ?, reason = '', updated_at = ? WHERE id = ?`, syndicate.StatePosted, s.stamp(), articleID)
		return err
	})
}

// FailArticle marks an article failed with the server's reason; it waits
// for a retry or an edit of its file (a new hash).
func (s *DB) FailArticle(ctx context.Context, articleID, hash, reason string) error {
	return s.tx(ctx, func(t txn) error {
		// The hash the thread was planned with stays; an article failed
		// before any plan gets the failed one.
		if _, err := t.exec(ctx, `INSERT INTO articles (id, state, hash, failed_hash, reason, updated_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET state = excluded.state, failed_hash = excluded.failed_hash, reason = excluded.reason, updated_at = excluded.updated_at`,
			articleID, syndicate.StateFailed, hash, hash, reason, s.stamp()); err != nil {
			return err
		}
		// The server refused the post: it does not exist, so it is not in
		// doubt, and a retry may plan it afresh.
		_, err := t.exec(ctx, `UPDATE posts SET attempted_at = NULL WHERE article_id = ? AND status_id IS NULL`, articleID)
		return err
	})
}

// RetryArticle makes a failed article pending again; it reports false
// when the article is not failed.
func (s *DB) RetryArticle(ctx context.Context, articleID string) (bool, error) {
	var n int
	err := s.tx(ctx, func(t txn) error {
		var err error
		n, err = t.count(ctx, `UPDATE articles SET state = ?, failed_hash = '', updated_at = ? WHERE id = ? AND state = ?`,
			syndicate.StatePosting, s.stamp(), articleID, syndicate.StateFailed)
		return err
	})
	return n > 0, err
}

// AdoptArticles records articles as posted without posting them and as
// mailed without mailing them, for adopting an existing archive: only
// articles added afterwards reach posts or digests. For posting, articles
// with a record are left alone; for the digest, articles in a digest or
// already counted as mailed. It returns how many were adopted for posting
// and how many for the digest.
func (s *DB) AdoptArticles(ctx context.Context, articles []*syndicate.Article) (posts, mailed int, err error) {
	err = s.tx(ctx, func(t txn) error {
		posts, mailed, err = s.adopt(ctx, t, articles)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return posts, mailed, nil
}

// adopt is AdoptArticles inside a transaction.
func (s *DB) adopt(ctx context.Context, t txn, articles []*syndicate.Article) (posts, mailed int, err error) {
	now := s.stamp()
	for _, a := range articles {
		n, err := t.count(ctx, `INSERT INTO digest_skips (article_id, digest_id, reason, at)
			SELECT ?, NULL, ?, ? WHERE NOT EXISTS (SELECT 1 FROM digest_articles WHERE article_id = ?)
			ON CONFLICT (article_id) DO NOTHING`, a.ID, skipAdopted, now, a.ID)
		if err != nil {
			return 0, 0, err
		}
		mailed += n
		n, err = t.count(ctx, `INSERT INTO articles (id, state, hash, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			a.ID, syndicate.StateAdopted, a.Hash, now)
		if err != nil {
			return 0, 0, err
		}
		posts += n
	}
	return posts, mailed, nil
}
