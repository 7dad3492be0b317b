package subscriber

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readAll(t *testing.T, src string) ([]string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "subs.csv")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path)
	if err != nil {
		return nil, []string{err.Error()}
	}
	defer l.Close()
	var ok, bad []string
	for {
		r, err := l.Next()
		if err == io.EOF {
			return ok, bad
		}
		if err != nil {
			bad = append(bad, strings.TrimPrefix(err.Error(), path))
			continue
		}
		ok = append(ok, r.Email+"/"+r.Name+"/"+r.Fields["city"])
	}
}

func TestList(t *testing.T) {
	ok, bad := readAll(t, "\ufeffEmail,Name,City\nada@example.org,Ada,Lisbon\n\nnot-an-address,X,Y\nADA@example.org,Dup,\n\"grace@example.org\",\"Hopper, Grace\",Porto\nbob@localhost,B,\n\"broken,quote\nlast@example.org\n")
	if got, want := strings.Join(ok, " "), "ada@example.org/Ada/Lisbon grace@example.org/Hopper, Grace/Porto"; got != want {
		t.Errorf("readers = %q\nwant %q", got, want)
	}
	want := []string{
		`:4: "not-an-address" is not an email address`,
		":5: ADA@example.org is listed twice",
		`:7: "bob@localhost" is not an email address`,
		":8:",
	}
	if len(bad) != len(want) {
		t.Fatalf("skipped = %q, want %d", bad, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(bad[i], w) {
			t.Errorf("skipped[%d] = %q, want prefix %q", i, bad[i], w)
		}
	}
}

func TestOpen_HeaderErrors(t *testing.T) {
	for _, src := range []string{"", "name,city\nx,y\n"} {
		_, bad := readAll(t, src)
		if len(bad) != 1 || !strings.Contains(bad[0], ":1:") {
			t.Errorf("%q: %q, want one header error at line 1", src, bad)
		}
	}
}

func FuzzList(f *testing.F) {
	f.Add("email,name\na@b.org,A\n")
	f.Add("email\n\"x\n")
	f.Fuzz(func(t *testing.T, src string) {
		l, err := newList("f.csv", strings.NewReader(src))
		if err != nil {
			return
		}
		for i := 0; i < 10000; i++ {
			r, err := l.Next()
			if err == io.EOF {
				return
			}
			if err == nil && !strings.Contains(r.Email, "@") {
				t.Fatalf("accepted %q", r.Email)
			}
		}
	})
}
