package mail

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

func TestWriteDotStuffed(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\r\nb", "a\r\nb\r\n"},
		{".hidden\n..two\nnot.first\n", "..hidden\r\n...two\r\nnot.first\r\n"},
		{"\n\n", "\r\n\r\n"},
		{".", "..\r\n"},
		// A lone CR or LF ends a line too: no "\r.\r\n" and no bare line
		// end ever reaches the relay (SMTP smuggling).
		{"a\r.\r\nb", "a\r\n..\r\nb\r\n"},
		{"x\r\n.\rMAIL FROM:<evil@example.org>\r\n", "x\r\n..\r\nMAIL FROM:<evil@example.org>\r\n"},
		{"one\rtwo\n\rthree", "one\r\ntwo\r\n\r\nthree\r\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		if err := writeDotStuffed(w, []byte(tt.in)); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if got := b.String(); got != tt.want {
			t.Errorf("writeDotStuffed(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzWriteDotStuffed: whatever the body, the wire has only CRLF line
// ends and no line that is a lone ".".
func FuzzWriteDotStuffed(f *testing.F) {
	f.Add([]byte("a\r.\r\nb"))
	f.Add([]byte(".\n..\r\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		if err := writeDotStuffed(w, body); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		out := b.String()
		if !strings.HasSuffix(out, "\r\n") && out != "" {
			t.Fatalf("%q does not end in CRLF", out)
		}
		for _, line := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
			if strings.ContainsAny(line, "\r\n") {
				t.Fatalf("bare line end in %q", out)
			}
			if line == "." {
				t.Fatalf("a lone \".\" line in %q", out)
			}
		}
	})
}

func TestHasLongLine(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{strings.Repeat("a", 998) + "\r\nb", false},
		{strings.Repeat("a", 998) + "\nb", false},
		{strings.Repeat("a", 999) + "\nb", true},
		{strings.Repeat("a", 999) + "\r\nb", true},
		{"short\n" + strings.Repeat("a", 2000), true},
		{strings.Repeat("a", 998), false},
	}
	for i, tt := range tests {
		if got := hasLongLine([]byte(tt.in)); got != tt.want {
			t.Errorf("case %d: hasLongLine = %v, want %v", i, got, tt.want)
		}
	}
}
