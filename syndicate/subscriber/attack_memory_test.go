package subscriber

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func allocs(t *testing.T, fn func()) uint64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func writeCSV(t *testing.T, fill func(w *bufio.Writer)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "subscribers.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fill(w)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

// ATTACK: encoding/csv has no limit on a field or a record, and Next keeps
// the whole row (and OneLine copies it again). A subscriber row with a
// 100 MB name made "check" 548 MB RSS and "digest --dry-run" 644 MB; a
// few GB OOM-kills the bot. (The name also becomes a 100 MB To: header.)
// Here: one 32 MB field.
func TestAttack_HugeField(t *testing.T) {
	path := writeCSV(t, func(w *bufio.Writer) {
		w.WriteString("email,name\na@example.org,\"")
		w.WriteString(strings.Repeat("x", 32<<20))
		w.WriteString("\"\nb@example.org,Bob\n")
	})
	n := allocs(t, func() { Scan(path, nil) })
	if n > 16<<20 {
		t.Errorf("scanning a list with one 32 MB field allocated %d MiB: no row size limit", n>>20)
	}
}

// ATTACK: Next makes every reader's Fields map with room for every header
// column (make(map, len(header))), empty column names included. A header
// of 1,000,000 commas (1 MB) and 200 rows took 3.6 s and 608 MB RSS in
// "check"; a million rows would take hours. Here: 100,000 columns, 50 rows.
func TestAttack_WideHeader(t *testing.T) {
	path := writeCSV(t, func(w *bufio.Writer) {
		w.WriteString("email,name" + strings.Repeat(",", 100_000) + "\n")
		for i := 0; i < 50; i++ {
			fmt.Fprintf(w, "r%d@example.org,R %d\n", i, i)
		}
	})
	n := allocs(t, func() { Scan(path, nil) })
	if n > 16<<20 {
		t.Errorf("50 readers under a 100,000-column header allocated %d MiB", n>>20)
	}
}

// ATTACK: Scan keeps every skipped row's error, and "check" and every dry
// run hold them all before printing: a list of 1,000,000 invalid rows made
// "check" 247 MB RSS and "digest --dry-run" 266 MB (a list where every
// address appears twice: 254 MB), against the < 64 MiB promise for a
// million readers. Here: 200,000 invalid rows.
func TestAttack_SkippedRowsHeld(t *testing.T) {
	path := writeCSV(t, func(w *bufio.Writer) {
		w.WriteString("email,name\n")
		for i := 0; i < 200_000; i++ {
			fmt.Fprintf(w, "reader%dexample.org,R\n", i)
		}
	})
	var s Summary
	n := allocs(t, func() { s, _ = Scan(path, nil) })
	runtime.KeepAlive(s)
	if len(s.Skipped) == 200_000 {
		t.Errorf("Scan holds all %d skipped rows' errors (%d MiB allocated): cap them or stream them", len(s.Skipped), n>>20)
	}
}

// TestList_Limits: a line over MaxLine and a header over MaxColumns stop
// the list with a ListError naming the line; rows before a long line were
// read.
func TestList_Limits(t *testing.T) {
	long := writeCSV(t, func(w *bufio.Writer) {
		w.WriteString("email,name\na@example.org,Ann\nb@example.org,")
		w.WriteString(strings.Repeat("x", MaxLine+10))
		w.WriteString("\nc@example.org,Cy\n")
	})
	s, err := Scan(long, nil)
	var le *ListError
	if !errors.As(err, &le) || le.Line != 3 || !strings.Contains(err.Error(), "subscribers.csv:3: a line longer than 64 KiB") {
		t.Errorf("long line: %v (%+v)", err, le)
	}
	if s.Readers != 1 {
		t.Errorf("%d readers before the long line, want 1", s.Readers)
	}
	wide := writeCSV(t, func(w *bufio.Writer) {
		w.WriteString("email,name" + strings.Repeat(",x", MaxColumns) + "\na@example.org,Ann\n")
	})
	if _, err := Scan(wide, nil); !errors.As(err, &le) || !strings.Contains(err.Error(), "columns") {
		t.Errorf("wide header: %v", err)
	}
	many := writeCSV(t, func(w *bufio.Writer) {
		w.WriteString("email\n")
		for i := 0; i < MaxSkipped+5; i++ {
			fmt.Fprintf(w, "bad%d\n", i)
		}
	})
	s, err = Scan(many, nil)
	if err != nil || len(s.Skipped) != MaxSkipped || s.SkippedCount != MaxSkipped+5 {
		t.Errorf("skipped rows: kept %d of %d, err %v", len(s.Skipped), s.SkippedCount, err)
	}
}
