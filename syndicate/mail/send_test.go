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
