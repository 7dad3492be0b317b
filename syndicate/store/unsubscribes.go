package store

import (
	"context"
	"fmt"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// Unsubscribe records that an address wants no more mail. Asking again
// keeps the first time it asked.
func (s *DB) Unsubscribe(ctx context.Context, email string) error {
	return s.tx(ctx, func(t txn) error {
		_, err := t.exec(ctx, `INSERT INTO unsubscribes (email_key, at) VALUES (?, ?) ON CONFLICT (email_key) DO NOTHING`,
			syndicate.EmailKey(email), s.stamp())
		return err
	})
}

// Unsubscribed returns every address that asked for no more mail, by
// EmailKey (a dry run counts the readers a send would mail).
func (s *DB) Unsubscribed(ctx context.Context) (map[string]bool, error) {
	rows, err := s.query(ctx, `SELECT email_key FROM unsubscribes`)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		out[k] = true
	}
	return out, rows.Err()
}
