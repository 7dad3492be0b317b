package files

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pngHead is the start of a real PNG file: enough for sniffing.
var pngHead = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// within fails the test if fn takes longer than a few seconds: a FIFO
// must be refused, never waited on.
func within(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { fn(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("blocked: a read waited on a file that is not a regular file")
	}
}

// TestFolder_ReadFile_Attacks: every way out of the folder, and every
// file that is not a regular file, is refused with a reason; nothing
// blocks.
func TestFolder_ReadFile_Attacks(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "articles")
	secret := filepath.Join(base, "state", "syndicate.db")
	write(t, secret, []byte("the unsubscribe key"))
	write(t, filepath.Join(dir, "ok.md"), []byte("fine"))
	write(t, filepath.Join(dir, "sub", "inner.md"), []byte("inner"))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(secret, filepath.Join(dir, "abs-link.md")))
	must(os.Symlink("../state/syndicate.db", filepath.Join(dir, "rel-link.md")))
	must(os.Symlink("ok.md", filepath.Join(dir, "inside-link.md")))
	must(os.Symlink("sub", filepath.Join(dir, "dir-link.md")))
	must(os.Symlink("/dev/zero", filepath.Join(dir, "zero.md")))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo.md"), 0o644))
	ln, err := net.Listen("unix", filepath.Join(dir, "sock.md"))
	must(err)
	defer ln.Close()

	f, err := OpenFolder(dir)
	must(err)
	defer f.Close()

	tests := []struct {
		name string
		want string // "" reads; else the reason contains this
		is   error
	}{
		{"ok.md", "", nil},
		{"inside-link.md", "", nil},
		{"sub/inner.md", "", nil},
		{"../state/syndicate.db", "leaves its folder", ErrOutside},
		{"sub/../../state/syndicate.db", "leaves its folder", ErrOutside},
		{secret, "leaves its folder", ErrOutside},
		{"abs-link.md", "leaves its folder", ErrOutside},
		{"rel-link.md", "leaves its folder", ErrOutside},
		{"zero.md", "leaves its folder", ErrOutside},
		{"../../../../proc/self/environ", "leaves its folder", ErrOutside},
		{"fifo.md", "is a FIFO (named pipe), not a regular file", ErrNotRegular},
		{"sock.md", "", ErrNotRegular}, // opening a socket fails (ENXIO) or is refused
		{"dir-link.md", "is a folder, not a regular file", ErrNotRegular},
		{"missing.md", "not found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			within(t, func() {
				data, _, err := f.ReadFile(tt.name, 1<<20)
				if tt.want == "" && tt.is == nil {
					if err != nil {
						t.Fatalf("err = %v, want a read", err)
					}
					if len(data) == 0 {
						t.Error("no data")
					}
					return
				}
				if err == nil {
					t.Fatalf("read %q, want a refusal", data)
				}
				var p *Problem
				if !errors.As(err, &p) {
					t.Fatalf("err %T %v is not a *Problem", err, err)
				}
				if tt.want != "" && !strings.Contains(p.Reason, tt.want) {
					t.Errorf("reason %q, want %q", p.Reason, tt.want)
				}
				if strings.Contains(err.Error(), "the unsubscribe key") {
					t.Error("the error shows the file's content")
				}
			})
		})
	}
}

func TestFolder_ReadFile_Limit(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "big.md"), bytes.Repeat([]byte("x"), 2000))
	f, err := OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, err := f.ReadFile("big.md", 1999); !errors.Is(err, ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
	if data, _, err := f.ReadFile("big.md", 2000); err != nil || len(data) != 2000 {
		t.Errorf("at the limit: %d bytes, %v", len(data), err)
	}
}

func TestReadFile_ConfigFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "subscribers.csv")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	within(t, func() {
		if _, err := ReadFile(fifo, 100); !errors.Is(err, ErrNotRegular) {
			t.Errorf("FIFO: err = %v, want ErrNotRegular", err)
		}
		if _, err := OpenFile(fifo); !errors.Is(err, ErrNotRegular) {
			t.Errorf("FIFO: err = %v, want ErrNotRegular", err)
		}
	})
	if _, err := ReadFile(dir, 100); !errors.Is(err, ErrNotRegular) {
		t.Errorf("folder: err = %v, want ErrNotRegular", err)
	}
}

func TestImages(t *testing.T) {
	base := t.TempDir()
	articles := filepath.Join(base, "articles")
	static := filepath.Join(base, "static", "images")
	write(t, filepath.Join(articles, "a.png"), pngHead)
	write(t, filepath.Join(static, "b.png"), pngHead)
	write(t, filepath.Join(base, "elsewhere.png"), pngHead)
	write(t, filepath.Join(articles, "fake.png"), []byte("MASTODON_ACCESS_TOKEN=secret\n"))
	write(t, filepath.Join(articles, "big.png"), append(append([]byte{}, pngHead...), make([]byte, 5000)...))
	if err := os.Symlink(filepath.Join(base, "elsewhere.png"), filepath.Join(articles, "link.png")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(articles, "pipe.png"), 0o644); err != nil {
		t.Fatal(err)
	}
	im, err := OpenImages(articles, static)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	tests := []struct {
		path string
		want string // "" is accepted
	}{
		{filepath.Join(articles, "a.png"), ""},
		{filepath.Join(articles, "../static/images/b.png"), ""},
		{filepath.Join(articles, "../elsewhere.png"), "outside the articles folder and media_dirs"},
		{filepath.Join(articles, "../../../../proc/self/environ"), "outside the articles folder and media_dirs"},
		{filepath.Join(articles, "link.png"), "leaves its folder"},
		{filepath.Join(articles, "fake.png"), "is not a PNG, JPEG, GIF, WebP or AVIF picture"},
		{filepath.Join(articles, "pipe.png"), "is a FIFO"},
		{filepath.Join(articles, "big.png"), "over the 1 KiB limit"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			within(t, func() {
				_, checkErr := im.Check(tt.path, 1024)
				_, readErr := im.Read(tt.path, 1024)
				for _, err := range []error{checkErr, readErr} {
					switch {
					case tt.want == "" && err != nil:
						t.Errorf("err = %v, want it accepted", err)
					case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
						t.Errorf("err = %v, want %q", err, tt.want)
					}
					if err != nil && strings.Contains(err.Error(), "secret") {
						t.Error("the error shows the file's content")
					}
				}
			})
		})
	}
	img, err := im.Read(filepath.Join(articles, "a.png"), 1024)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := img.Type+" "+img.Name, "image/png a.png"; got != want {
		t.Errorf("image = %s, want %s", got, want)
	}
}

func TestSniff(t *testing.T) {
	avif := []byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf")
	heic := []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic")
	tests := []struct {
		name string
		head []byte
		want string
	}{
		{"png", pngHead, "image/png"},
		{"jpeg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), "image/jpeg"},
		{"gif", []byte("GIF89a\x01\x00\x01\x00"), "image/gif"},
		{"webp", []byte("RIFF\x24\x00\x00\x00WEBPVP8 "), "image/webp"},
		{"avif", avif, "image/avif"},
		{"heic is not avif", heic, ""},
		{"text", []byte("hello"), ""},
		{"svg", []byte("<svg xmlns='http://www.w3.org/2000/svg'></svg>"), ""},
		{"html", []byte("<html><script>"), ""},
		{"empty", nil, ""},
	}
	for _, tt := range tests {
		if got := Sniff(tt.head); got != tt.want {
			t.Errorf("%s: Sniff = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func FuzzSniff(f *testing.F) {
	f.Add(pngHead)
	f.Add([]byte("\x00\x00\x00\x1cftypavif"))
	f.Add([]byte("\xff\xff\xff\xffftyp"))
	f.Fuzz(func(t *testing.T, head []byte) {
		Sniff(head) // must not panic
	})
}
