package store_test

import (
	"testing"

	"github.com/syndicate-bot/syndicate/syndicate/store"
)

func TestPlaceholders_Rebind(t *testing.T) {
	for _, tt := range []struct{ in, question, dollar string }{
		{`SELECT 1`, `SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE b = ? AND c IN (?, ?) LIMIT ?`, ``, `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3) LIMIT $4`},
		{`UPDATE t SET r = 'why? ' || r, s = ? WHERE k = ?`, ``, `UPDATE t SET r = 'why? ' || r, s = $1 WHERE k = $2`},
		{`SELECT 'it''s ?', "odd?name" FROM t WHERE x = ?`, ``, `SELECT 'it''s ?', "odd?name" FROM t WHERE x = $1`},
		{"SELECT x -- is it?\nFROM t WHERE y = ?", ``, "SELECT x -- is it?\nFROM t WHERE y = $1"},
		{`SELECT a - ? FROM t`, ``, `SELECT a - $1 FROM t`},
		{`INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, ``, `INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`},
	} {
		want := tt.question
		if want == "" {
			want = tt.in
		}
		if got := store.Question.Rebind(tt.in); got != want {
			t.Errorf("Question.Rebind(%q) = %q", tt.in, got)
		}
		if got := store.Dollar.Rebind(tt.in); got != tt.dollar {
			t.Errorf("Dollar.Rebind(%q) = %q, want %q", tt.in, got, tt.dollar)
		}
	}
}
