package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// A thread already made changes by a plan recorded before its first
// request (PlanEdit): the edits and deletes of posts made wait in
// post_changes until each is applied (ApplyChange), and the new posts —
// key points added, correction replies — are rows of posts like any
// other, chained after the thread's last post, and go out through the
// post path (MarkAttempt, RecordPost). What the next digest says of the
// article is kept in notices.

// PlanEdit records the change of a thread on a network in one
// transaction (see syndicate.PostLedger).
func (s *DB) PlanEdit(ctx context.Context, network, articleID string, plan syndicate.EditPlan) error {
	return s.tx(ctx, func(t txn) error {
		now := s.stamp()
		state := syndicate.StateEditing
		if plan.Retract {
			state = syndicate.StateRetracting
		}
		n, err := t.count(ctx, `UPDATE articles SET state = ?, hash = ?, failed_hash = '', reason = '', updated_at = ? WHERE id = ? AND network = ?`,
			state, plan.Hash, now, articleID, network)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("state: article %s has no thread on %s to change", articleID, network)
		}
		// Posts never sent are not part of the thread any more (the plan
		// says what follows); one in doubt stays, to be settled.
		if _, err := t.exec(ctx, `DELETE FROM posts WHERE article_id = ? AND network = ? AND status_id IS NULL AND attempted_at IS NULL`, articleID, network); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM post_changes WHERE article_id = ? AND network = ?`, articleID, network); err != nil {
			return err
		}
		for _, c := range plan.Changes {
			p := c.Post
			if _, err := t.exec(ctx, `INSERT INTO post_changes (article_id, network, idx, kind, text, spoiler, language, media_file, media_alt, planned_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				articleID, network, c.Index, c.Kind, p.Text, p.ContentWarning, p.Language, p.MediaFile, p.MediaAlt, now); err != nil {
				return err
			}
		}
		for _, c := range plan.Corrected {
			if err := rewrite(ctx, t, network, articleID, c.Index, c.Post); err != nil {
				return err
			}
		}
		if err := appendPosts(ctx, t, network, articleID, plan.Posts); err != nil {
			return err
		}
		for _, nt := range plan.Notices {
			if _, err := t.exec(ctx, `INSERT INTO notices (article_id, kind, text, title, url, at) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (article_id, kind, text) DO NOTHING`, articleID, nt.Kind, nt.Text, nt.Title, nt.URL, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// rewrite records a post's content as its correction says it, without an
// edit.
func rewrite(ctx context.Context, t txn, network, articleID string, idx int, p syndicate.PlannedPost) error {
	_, err := t.exec(ctx, `UPDATE posts SET text = ?, spoiler = ?, language = ?, media_file = ?, media_alt = ? WHERE article_id = ? AND network = ? AND idx = ?`,
		p.Text, p.ContentWarning, p.Language, p.MediaFile, p.MediaAlt, articleID, network, idx)
	return err
}

// appendPosts adds posts after the thread's last, in order.
func appendPosts(ctx context.Context, t txn, network, articleID string, posts []syndicate.PlannedPost) error {
	if len(posts) == 0 {
		return nil
	}
	var next int
	if err := t.queryRow(ctx, `SELECT COALESCE(MAX(idx), -1) + 1 FROM posts WHERE article_id = ? AND network = ?`, articleID, network).Scan(&next); err != nil {
		return err
	}
	for i, p := range posts {
		kind := p.Kind
		if kind == "" {
			kind = syndicate.PostThread
		}
		if _, err := t.exec(ctx, `INSERT INTO posts (article_id, network, idx, text, spoiler, visibility, language, media_file, media_alt, idem_key,
				record_key, record_created_at, card_url, card_title, card_description, kind, note)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			articleID, network, next+i, p.Text, p.ContentWarning, p.Visibility, p.Language, p.MediaFile, p.MediaAlt, p.IdempotencyKey,
			p.RecordKey, formatTime(p.CreatedAt), p.CardURL, p.CardTitle, p.CardDescription, kind, p.Note); err != nil {
			return err
		}
	}
	return nil
}

// PlannedChanges returns the changes not yet applied: deletes from the
// thread's end back (a reply goes before the post it answers), then
// edits in thread order.
func (s *DB) PlannedChanges(ctx context.Context, network, articleID string) ([]syndicate.PlannedChange, error) {
	rows, err := s.query(ctx, `SELECT c.idx, c.kind, c.text, c.spoiler, c.language, c.media_file, c.media_alt, COALESCE(p.visibility, '')
		FROM post_changes c LEFT JOIN posts p ON p.article_id = c.article_id AND p.network = c.network AND p.idx = c.idx
		WHERE c.article_id = ? AND c.network = ?
		ORDER BY CASE WHEN c.kind = ? THEN 0 ELSE 1 END, CASE WHEN c.kind = ? THEN -c.idx ELSE c.idx END`,
		articleID, network, syndicate.ChangeDelete, syndicate.ChangeDelete)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	var out []syndicate.PlannedChange
	for rows.Next() {
		var c syndicate.PlannedChange
		p := &c.Post
		if err := rows.Scan(&c.Index, &c.Kind, &p.Text, &p.ContentWarning, &p.Language, &p.MediaFile, &p.MediaAlt, &p.Visibility); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		p.Index = c.Index
		out = append(out, c)
	}
	return out, rows.Err()
}

// ApplyChange records a change as applied: an edit's content is now the
// post's (a removal makes it a removed post), a deleted post is no longer
// part of the thread.
func (s *DB) ApplyChange(ctx context.Context, network, articleID string, c syndicate.PlannedChange) error {
	return s.tx(ctx, func(t txn) error {
		now := s.stamp()
		switch c.Kind {
		case syndicate.ChangeDelete:
			if _, err := t.exec(ctx, `UPDATE posts SET deleted_at = COALESCE(deleted_at, ?) WHERE article_id = ? AND network = ? AND idx = ?`,
				now, articleID, network, c.Index); err != nil {
				return err
			}
		case syndicate.ChangeEdit, syndicate.ChangeRemove:
			p := c.Post
			kind := syndicate.PostThread
			if c.Kind == syndicate.ChangeRemove {
				kind = syndicate.PostRemoved
			}
			if _, err := t.exec(ctx, `UPDATE posts SET text = ?, spoiler = ?, language = ?, media_file = ?, media_alt = ?, edited_at = ?,
				kind = CASE WHEN kind = ? THEN ? ELSE kind END
				WHERE article_id = ? AND network = ? AND idx = ?`,
				p.Text, p.ContentWarning, p.Language, p.MediaFile, p.MediaAlt, now, syndicate.PostThread, kind, articleID, network, c.Index); err != nil {
				return err
			}
			if _, err := t.exec(ctx, `UPDATE articles SET edited_at = ? WHERE id = ? AND network = ?`, now, articleID, network); err != nil {
				return err
			}
		default:
			return fmt.Errorf("state: unknown change %q", c.Kind)
		}
		_, err := t.exec(ctx, `DELETE FROM post_changes WHERE article_id = ? AND network = ? AND idx = ?`, articleID, network, c.Index)
		return err
	})
}

// CorrectInstead replaces a planned edit the server cannot make with
// correction replies appended to the thread.
func (s *DB) CorrectInstead(ctx context.Context, network, articleID string, idx int, posts []syndicate.PlannedPost) error {
	return s.tx(ctx, func(t txn) error {
		var p syndicate.PlannedPost
		err := t.queryRow(ctx, `SELECT text, spoiler, language, media_file, media_alt FROM post_changes WHERE article_id = ? AND network = ? AND idx = ?`,
			articleID, network, idx).Scan(&p.Text, &p.ContentWarning, &p.Language, &p.MediaFile, &p.MediaAlt)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("state: no change of post %d of %s on %s is planned", idx+1, articleID, network)
		}
		if err != nil {
			return err
		}
		if err := rewrite(ctx, t, network, articleID, idx, p); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM post_changes WHERE article_id = ? AND network = ? AND idx = ?`, articleID, network, idx); err != nil {
			return err
		}
		return appendPosts(ctx, t, network, articleID, posts)
	})
}

// UpdateHash records that an article's change changes no post.
func (s *DB) UpdateHash(ctx context.Context, network, articleID, hash string) error {
	return s.tx(ctx, func(t txn) error {
		_, err := t.exec(ctx, `UPDATE articles SET hash = ?, updated_at = ? WHERE id = ? AND network = ?`, hash, s.stamp(), articleID, network)
		return err
	})
}
