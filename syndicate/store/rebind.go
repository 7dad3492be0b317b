package store

import (
	"strconv"
	"strings"
)

// Placeholders is how a driver writes a query's parameters. Queries in
// this package are written with ?; a DB rebinds them for its driver, so
// the same query text serves SQLite and PostgreSQL.
type Placeholders int

const (
	// Question is ?, ?, ? (SQLite; the query text as written).
	Question Placeholders = iota
	// Dollar is $1, $2, $3 (PostgreSQL).
	Dollar
)

// Rebind writes query's ? placeholders as p wants them. A ? inside a
// quoted string or identifier, or in a -- comment, is left alone.
func (p Placeholders) Rebind(query string) string {
	if p == Question || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	var quote byte // the quote we are inside, or 0
	comment := false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case comment:
			if c == '\n' {
				comment = false
			}
		case quote != 0:
			if c == quote {
				quote = 0 // a doubled quote closes and reopens: still right
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			comment = true
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
