package store

import (
	"context"
	"fmt"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// An article's row, one per network, holds the state of its thread there
// (syndicate.StatePosting, StatePosted, StateFailed, StateAdopted); its
// posts' rows hold each post's planned text and, on Bluesky, what a retry
// must repeat exactly (record key, createdAt, link card), and once known
// the post it became (its ID, URL and CID).

// ArticleRecords returns what is recorded of every article on a network,
// by ID.
func (s *DB) ArticleRecords(ctx context.Context, network string) (map[string]syndicate.ArticleRecord, error) {
	rows, err := s.query(ctx, `SELECT a.id, a.state, a.hash, a.failed_hash, a.reason, a.head_url, a.updated_at,
		(SELECT COUNT(*) FROM posts p WHERE p.article_id = a.id AND p.network = a.network AND p.status_id IS NOT NULL AND p.deleted_at IS NULL),
		(SELECT COUNT(*) FROM posts p WHERE p.article_id = a.id AND p.network = a.network AND p.deleted_at IS NULL),
		COALESCE((SELECT p.posted_at FROM posts p WHERE p.article_id = a.id AND p.network = a.network AND p.idx = 0), ''),
		CASE WHEN EXISTS (SELECT 1 FROM feed_items f WHERE f.id = a.id) THEN ? ELSE ? END,
		COALESCE(a.edited_at, ''), COALESCE(a.corrected_at, ''), COALESCE(a.retracted_at, ''),
		(SELECT COUNT(*) FROM post_changes c WHERE c.article_id = a.id AND c.network = a.network)
		FROM articles a WHERE a.network = ?`, sourceFeed, sourceFolder, network)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	out := map[string]syndicate.ArticleRecord{}
	for rows.Next() {
		r := syndicate.ArticleRecord{Network: network}
		var updated, posted, edited, corrected, retracted string
		if err := rows.Scan(&r.ID, &r.State, &r.Hash, &r.FailedHash, &r.Reason, &r.HeadURL, &updated, &r.PostsDone, &r.PostsPlanned, &posted,
			&r.Source, &edited, &corrected, &retracted, &r.Changes); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		for _, f := range []struct {
			what string
			v    string
			dst  *time.Time
		}{{"updated_at", updated, &r.UpdatedAt}, {"posted_at", posted, &r.PostedAt}, {"edited_at", edited, &r.EditedAt},
			{"corrected_at", corrected, &r.CorrectedAt}, {"retracted_at", retracted, &r.RetractedAt}} {
			if *f.dst, err = parseTime("article "+r.ID+" "+f.what, f.v); err != nil {
				return nil, err
			}
		}
		out[r.ID] = r
	}
	return out, rows.Err()
}

// An article's source as ArticleRecords tells it: the state keeps every
// feed item it saw (and never forgets one), so an article that is not one
// came from the folder.
const (
	sourceFolder = "folder"
	sourceFeed   = "feed"
)

// PlanThread records the thread an article will be posted as on a
// network, before the first post goes out, so a resumed run posts the
// same texts (and, on Bluesky, the same records). When a plan exists (a
// resumed or retried article), posts already made or in doubt are kept
// and the rest are replaced by the new plan.
func (s *DB) PlanThread(ctx context.Context, network, articleID, hash string, posts []syndicate.PlannedPost) error {
	return s.tx(ctx, func(t txn) error {
		if _, err := t.exec(ctx, `INSERT INTO articles (id, network, state, hash, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id, network) DO UPDATE SET state = excluded.state, hash = excluded.hash, reason = '', updated_at = excluded.updated_at`,
			articleID, network, syndicate.StatePosting, hash, s.stamp()); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM posts WHERE article_id = ? AND network = ? AND status_id IS NULL AND attempted_at IS NULL`, articleID, network); err != nil {
			return err
		}
		stmt, err := t.prepare(ctx, `INSERT INTO posts (article_id, network, idx, text, spoiler, visibility, language, media_file, media_alt, idem_key,
				record_key, record_created_at, card_url, card_title, card_description)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (article_id, network, idx) DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, p := range posts {
			// A post made, or in doubt, is still there: its recorded text
			// (and record key and createdAt) stays.
			if _, err := stmt.ExecContext(ctx, articleID, network, p.Index, p.Text, p.ContentWarning, p.Visibility, p.Language, p.MediaFile, p.MediaAlt, p.IdempotencyKey,
				p.RecordKey, formatTime(p.CreatedAt), p.CardURL, p.CardTitle, p.CardDescription); err != nil {
				return err
			}
		}
		return nil
	})
}

// PlannedPosts returns an article's planned posts on a network in order,
// with what is known of each.
func (s *DB) PlannedPosts(ctx context.Context, network, articleID string) ([]syndicate.PlannedPost, error) {
	rows, err := s.query(ctx, `SELECT idx, text, spoiler, visibility, language, media_file, media_alt, idem_key,
		record_key, record_created_at, card_url, card_title, card_description,
		COALESCE(attempted_at, ''), COALESCE(status_id, ''), COALESCE(url, ''), cid,
		kind, note, COALESCE(edited_at, ''), COALESCE(deleted_at, '')
		FROM posts WHERE article_id = ? AND network = ? ORDER BY idx`, articleID, network)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	var out []syndicate.PlannedPost
	for rows.Next() {
		var p syndicate.PlannedPost
		var created, attempted, edited, deleted string
		if err := rows.Scan(&p.Index, &p.Text, &p.ContentWarning, &p.Visibility, &p.Language, &p.MediaFile, &p.MediaAlt, &p.IdempotencyKey,
			&p.RecordKey, &created, &p.CardURL, &p.CardTitle, &p.CardDescription,
			&attempted, &p.StatusID, &p.URL, &p.CID, &p.Kind, &p.Note, &edited, &deleted); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		what := fmt.Sprintf("article %s on %s post %d", articleID, network, p.Index+1)
		if p.CreatedAt, err = parseTime(what+" record_created_at", created); err != nil {
			return nil, err
		}
		if p.AttemptedAt, err = parseTime(what+" attempted_at", attempted); err != nil {
			return nil, err
		}
		if p.EditedAt, err = parseTime(what+" edited_at", edited); err != nil {
			return nil, err
		}
		if p.DeletedAt, err = parseTime(what+" deleted_at", deleted); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// MarkAttempt records that a post is about to be sent: from here until
// RecordPost its outcome is unknown if the process dies.
func (s *DB) MarkAttempt(ctx context.Context, network, articleID string, idx int) error {
	return s.tx(ctx, func(t txn) error {
		_, err := t.exec(ctx, `UPDATE posts SET attempted_at = COALESCE(attempted_at, ?) WHERE article_id = ? AND network = ? AND idx = ?`,
			s.stamp(), articleID, network, idx)
		return err
	})
}

// RecordPost records the post a planned one became.
func (s *DB) RecordPost(ctx context.Context, network, articleID string, idx int, st syndicate.Status) error {
	return s.tx(ctx, func(t txn) error {
		now := s.stamp()
		if _, err := t.exec(ctx, `UPDATE posts SET status_id = ?, url = ?, cid = ?, posted_at = ? WHERE article_id = ? AND network = ? AND idx = ?`,
			st.ID, st.URL, st.CID, now, articleID, network, idx); err != nil {
			return err
		}
		if idx == 0 {
			_, err := t.exec(ctx, `UPDATE articles SET head_url = ?, updated_at = ? WHERE id = ? AND network = ?`, st.URL, now, articleID, network)
			return err
		}
		_, err := t.exec(ctx, `UPDATE articles SET corrected_at = ? WHERE id = ? AND network = ?
			AND EXISTS (SELECT 1 FROM posts WHERE article_id = ? AND network = ? AND idx = ? AND kind = ?)`,
			now, articleID, network, articleID, network, idx, syndicate.PostCorrection)
		return err
	})
}

// FinishArticle marks an article posted on a network (a thread being
// deleted: retracted).
func (s *DB) FinishArticle(ctx context.Context, network, articleID string) error {
	return s.tx(ctx, func(t txn) error {
		now := s.stamp()
		_, err := t.exec(ctx, `UPDATE articles SET
			retracted_at = CASE WHEN state = ? THEN ? ELSE retracted_at END,
			state = CASE WHEN state = ? THEN ? ELSE ? END,
			reason = '', updated_at = ? WHERE id = ? AND network = ?`,
			syndicate.StateRetracting, now, syndicate.StateRetracting, syndicate.StateRetracted, syndicate.StatePosted, now, articleID, network)
		return err
	})
}

// FailArticle marks an article failed on a network with the server's
// reason; it waits for a retry or an edit of its file (a new hash).
func (s *DB) FailArticle(ctx context.Context, network, articleID, hash, reason string) error {
	return s.tx(ctx, func(t txn) error {
		// The hash the thread was planned with stays; an article failed
		// before any plan gets the failed one.
		if _, err := t.exec(ctx, `INSERT INTO articles (id, network, state, hash, failed_hash, reason, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id, network) DO UPDATE SET state = excluded.state, failed_hash = excluded.failed_hash, reason = excluded.reason, updated_at = excluded.updated_at`,
			articleID, network, syndicate.StateFailed, hash, hash, reason, s.stamp()); err != nil {
			return err
		}
		// The server refused the post: it does not exist, so it is not in
		// doubt, and a retry may plan it afresh.
		_, err := t.exec(ctx, `UPDATE posts SET attempted_at = NULL WHERE article_id = ? AND network = ? AND status_id IS NULL`, articleID, network)
		return err
	})
}

// RetryArticle makes a failed article pending again on a network; it
// reports false when the article is not failed there.
func (s *DB) RetryArticle(ctx context.Context, network, articleID string) (bool, error) {
	var n int
	err := s.tx(ctx, func(t txn) error {
		var err error
		n, err = t.count(ctx, `UPDATE articles SET state = ?, failed_hash = '', updated_at = ? WHERE id = ? AND network = ? AND state = ?`,
			syndicate.StatePosting, s.stamp(), articleID, network, syndicate.StateFailed)
		return err
	})
	return n > 0, err
}

// AdoptArticles records articles as posted on each of networks without
// posting them and, when mail is true, as mailed without mailing them,
// for adopting an existing archive: only articles added afterwards reach
// posts or digests. For posting, articles with a record on a network are
// left alone there; for the digest, articles in a digest or already
// counted as mailed. It returns how many were adopted for posting on
// each network and how many for the digest. It is one transaction.
func (s *DB) AdoptArticles(ctx context.Context, articles []*syndicate.Article, networks []string, mail bool) (posts map[string]int, mailed int, err error) {
	err = s.tx(ctx, func(t txn) error {
		posts, mailed, err = s.adopt(ctx, t, articles, networks, mail)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return posts, mailed, nil
}

// adopt is AdoptArticles inside a transaction.
func (s *DB) adopt(ctx context.Context, t txn, articles []*syndicate.Article, networks []string, mail bool) (posts map[string]int, mailed int, err error) {
	posts = map[string]int{}
	now := s.stamp()
	for _, a := range articles {
		if mail {
			n, err := t.count(ctx, `INSERT INTO digest_skips (article_id, digest_id, reason, at)
				SELECT ?, NULL, ?, ? WHERE NOT EXISTS (SELECT 1 FROM digest_articles WHERE article_id = ?)
				ON CONFLICT (article_id) DO NOTHING`, a.ID, skipAdopted, now, a.ID)
			if err != nil {
				return nil, 0, err
			}
			mailed += n
		}
		for _, network := range networks {
			n, err := t.count(ctx, `INSERT INTO articles (id, network, state, hash, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id, network) DO NOTHING`,
				a.ID, network, syndicate.StateAdopted, a.Hash, now)
			if err != nil {
				return nil, 0, err
			}
			posts[network] += n
		}
	}
	return posts, mailed, nil
}
