// Package subscriber reads the subscriber list: a CSV file whose header
// names an email column, a name column and any others (available to
// templates). Readers are streamed one row at a time so a list of any size
// sends in flat memory; a bad row is reported with its line and skipped.
package subscriber

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/mail"
	"slices"
	"strings"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/files"
	"github.com/syndicate-bot/syndicate/syndicate/text"
)

// Limits on what a list of many hands may hold: beyond them the list is
// refused (a ListError), not read without bound.
const (
	MaxLine    = 64 << 10 // bytes between two line ends
	MaxColumns = 100      // columns of the header
	// MaxSkipped is how many skipped rows Scan keeps to report; it counts
	// the rest.
	MaxSkipped = 1000
)

// ListError is a list that cannot be read on: a line or a header beyond
// the limits. Unlike a RowError it stops the reading: a send refuses to
// start rather than mail part of a list it cannot read.
type ListError struct {
	Path string
	Line int
	Msg  string
}

func (e *ListError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg) }

// RowError is a row that was skipped.
type RowError struct {
	Path string
	Line int
	Msg  string
}

func (e *RowError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg) }

// List streams the readers of a CSV file.
type List struct {
	path   string
	f      io.Closer
	csv    *csv.Reader
	header []string
	email  int
	name   int
	// Duplicates are found in little memory, in two passes: the first
	// hashes every address and keeps the hashes seen twice (suspects);
	// the second compares only the suspects' addresses exactly, so a hash
	// collision never skips a reader. (A map of every address took
	// 189 MB for a million readers.)
	seed     maphash.Seed
	suspects map[uint64]struct{}
	seen     map[string]struct{}
	named    int // header columns with a name
}

// Open opens a subscriber file and reads its header. The file must be a
// regular file (a FIFO is refused, never waited on).
func Open(path string) (*List, error) {
	f, err := files.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("opening subscribers: %w", err)
	}
	l, err := newList(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	l.f = f
	return l, nil
}

func newCSV(r io.ReaderAt) *csv.Reader {
	c := csv.NewReader(&lineLimit{r: io.NewSectionReader(r, 0, 1<<62)})
	c.FieldsPerRecord = -1
	c.TrimLeadingSpace = true
	c.ReuseRecord = true
	return c
}

func newList(path string, r io.ReaderAt) (*List, error) {
	c := newCSV(r)
	header, err := c.Read()
	if err == io.EOF {
		return nil, &RowError{Path: path, Line: 1, Msg: "empty file: want a header row email,name"}
	}
	if err != nil {
		return nil, listOrRow(path, 1, fmt.Sprintf("header: %v", csvMessage(err)), err)
	}
	if len(header) > MaxColumns {
		return nil, &ListError{Path: path, Line: 1, Msg: fmt.Sprintf("the header has %d columns, more than the %d a list may have", len(header), MaxColumns)}
	}
	l := &List{path: path, csv: c, email: -1, name: -1, seed: maphash.MakeSeed(), seen: map[string]struct{}{}}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		l.header = append(l.header, h)
		if h != "" {
			l.named++
		}
		switch h {
		case "email":
			l.email = i
		case "name":
			l.name = i
		}
	}
	if l.email < 0 {
		return nil, &RowError{Path: path, Line: 1, Msg: "header has no email column: want a header row email,name"}
	}
	l.suspects = l.findSuspects(newCSV(r), countLines(r))
	return l, nil
}

// countLines counts the line ends of the file: the size of the first
// pass's hash list, allocated once (growing it by doubling would hold two
// copies at the end).
func countLines(r io.ReaderAt) int {
	buf := make([]byte, 64<<10)
	n := 0
	for off := int64(0); ; {
		k, err := r.ReadAt(buf, off)
		n += bytes.Count(buf[:k], []byte{'\n'})
		off += int64(k)
		if err != nil {
			return n + 1
		}
	}
}

// findSuspects is the first pass: the hashes of the addresses that occur
// more than once (a few, in a clean list), from 8 bytes per row.
func (l *List) findSuspects(c *csv.Reader, lines int) map[uint64]struct{} {
	c.Read() // the header
	hashes := make([]uint64, 0, lines)
	for {
		rec, err := c.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				continue // a bad row: the second pass reports it
			}
			break
		}
		if l.email < len(rec) {
			hashes = append(hashes, l.hash(strings.TrimSpace(rec[l.email])))
		}
	}
	slices.Sort(hashes)
	suspects := map[uint64]struct{}{}
	for i := 1; i < len(hashes); i++ {
		if hashes[i] == hashes[i-1] {
			suspects[hashes[i]] = struct{}{}
		}
	}
	return suspects
}

func (l *List) hash(email string) uint64 { return maphash.String(l.seed, syndicate.EmailKey(email)) }

// Next returns the next valid reader, or io.EOF. A skipped row comes back
// as a *RowError; call Next again to go on.
func (l *List) Next() (syndicate.Reader, error) {
	for {
		rec, err := l.csv.Read()
		if err == io.EOF {
			return syndicate.Reader{}, io.EOF
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			return syndicate.Reader{}, listOrRow(l.path, line, csvMessage(err), err)
		}
		line, _ := l.csv.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		if l.email >= len(rec) {
			return syndicate.Reader{}, &RowError{Path: l.path, Line: line, Msg: "no email on this row"}
		}
		email := strings.TrimSpace(rec[l.email])
		addr, err := mail.ParseAddress(email)
		if err != nil || addr.Address != email || !strings.Contains(email[strings.LastIndex(email, "@")+1:], ".") {
			return syndicate.Reader{}, &RowError{Path: l.path, Line: line, Msg: fmt.Sprintf("%q is not an email address", email)}
		}
		if _, suspect := l.suspects[l.hash(email)]; suspect {
			key := syndicate.EmailKey(email)
			if _, dup := l.seen[key]; dup {
				return syndicate.Reader{}, &RowError{Path: l.path, Line: line, Msg: fmt.Sprintf("%s is listed twice (addresses are compared ignoring case); this row is skipped", email)}
			}
			l.seen[key] = struct{}{}
		}
		r := syndicate.Reader{Email: email, Fields: make(map[string]string, l.named)}
		for i, h := range l.header {
			if i < len(rec) && h != "" {
				// A field may reach a template or a header: one line, no
				// control characters.
				r.Fields[h] = text.OneLine(rec[i])
			}
		}
		r.Name = r.Fields["name"]
		return r, nil
	}
}

// Close closes the file.
func (l *List) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}

func csvMessage(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Summary is what one pass over a list finds.
type Summary struct {
	Readers int              // valid, distinct readers
	First   syndicate.Reader // the first of them (a dry run renders for it)
	Skipped []error          // the rows that were skipped, the first MaxSkipped
	// SkippedCount counts every skipped row, those beyond MaxSkipped too.
	SkippedCount int
}

// Scan reads a whole list once; readers whose EmailKey is in exclude (the
// unsubscribed) are not counted.
func Scan(path string, exclude map[string]bool) (Summary, error) {
	l, err := Open(path)
	if err != nil {
		return Summary{}, err
	}
	defer l.Close()
	var s Summary
	for {
		r, err := l.Next()
		if err == io.EOF {
			return s, nil
		}
		var le *ListError
		if errors.As(err, &le) {
			return s, err
		}
		if err != nil {
			s.SkippedCount++
			if len(s.Skipped) < MaxSkipped {
				s.Skipped = append(s.Skipped, err)
			}
			continue
		}
		if exclude[syndicate.EmailKey(r.Email)] {
			continue
		}
		if s.Readers == 0 {
			s.First = r
		}
		s.Readers++
	}
}

// errLineTooLong is what lineLimit says of a line over MaxLine.
var errLineTooLong = errors.New("line too long")

// listOrRow makes a reading error a ListError when the list cannot be
// read on, else a RowError of that row.
func listOrRow(path string, line int, msg string, err error) error {
	var ll *lineTooLong
	if errors.As(err, &ll) {
		return &ListError{Path: path, Line: ll.line, Msg: fmt.Sprintf("a line longer than %d KiB: the list is not read further (is it a subscriber list?)", MaxLine>>10)}
	}
	return &RowError{Path: path, Line: line, Msg: msg}
}

// lineTooLong carries the line that passed MaxLine.
type lineTooLong struct{ line int }

func (e *lineTooLong) Error() string { return fmt.Sprintf("line %d: %v", e.line, errLineTooLong) }

// lineLimit passes the file through and fails once a line passes MaxLine
// bytes: encoding/csv has no limit on a field or a row, and one line of
// 100 MB would be held whole.
type lineLimit struct {
	r    io.Reader
	run  int // bytes since the last line end
	line int // line ends seen
}

func (l *lineLimit) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for rest := p[:n]; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			l.run += len(rest)
			break
		}
		if l.run+i > MaxLine {
			l.run += i
			break
		}
		l.run = 0
		l.line++
		rest = rest[i+1:]
	}
	if l.run > MaxLine {
		return 0, &lineTooLong{line: l.line + 1}
	}
	return n, err
}
