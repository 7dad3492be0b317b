package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// The meta table keeps named values: the schema version, the secrets
// ("secret:NAME", hex) and what was learned of servers ("server:URL",
// JSON).

// Secret returns the named secret, generating and storing 32 random bytes
// on first use. A read-only store returns nil when it has none yet.
func (s *DB) Secret(ctx context.Context, name string) ([]byte, error) {
	key := "secret:" + name
	var v string
	err := s.queryRow(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if err == nil {
		return decodeSecret(name, v)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("state: %w", err)
	}
	if s.readOnly {
		return nil, nil
	}
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	err = s.tx(ctx, func(t txn) error {
		// Another process may have made one meanwhile: the first is kept.
		if _, err := t.exec(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, hex.EncodeToString(b)); err != nil {
			return err
		}
		return t.queryRow(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	})
	if err != nil {
		return nil, err
	}
	return decodeSecret(name, v)
}

func decodeSecret(name, v string) ([]byte, error) {
	b, err := hex.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("state: secret %s: %w", name, err)
	}
	return b, nil
}

// ServerInfo returns what the last live run learned of a server.
func (s *DB) ServerInfo(ctx context.Context, server string) (syndicate.ServerInfo, bool, error) {
	var info syndicate.ServerInfo
	var v string
	err := s.queryRow(ctx, `SELECT value FROM meta WHERE key = ?`, "server:"+server).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return info, false, nil
	}
	if err != nil {
		return info, false, fmt.Errorf("state: %w", err)
	}
	if err := json.Unmarshal([]byte(v), &info); err != nil {
		return info, false, fmt.Errorf("state: server %s: %w", server, err)
	}
	return info, true, nil
}

// RememberServer keeps what a live run learned of a server, replacing
// what an earlier one did.
func (s *DB) RememberServer(ctx context.Context, server string, info syndicate.ServerInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(t txn) error {
		_, err := t.exec(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, "server:"+server, string(b))
		return err
	})
}
