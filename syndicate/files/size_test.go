package files

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// encoded is a w×h picture in one of the standard library's formats.
func encoded(t *testing.T, format string, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&b, img)
	case "jpeg":
		err = jpeg.Encode(&b, img, nil)
	case "gif":
		err = gif.Encode(&b, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngHeader is a PNG's signature and IHDR chunk claiming w×h, with a
// right checksum, and nothing after it: a header that promises a picture
// no one could decode.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 17)
	copy(ihdr, "IHDR")
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	copy(ihdr[12:], []byte{8, 6, 0, 0, 0})
	out := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0d")
	out = append(out, ihdr...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(ihdr))
}

// webpLossless is the header of a lossless WebP of w×h (no encoder is at
// hand: the VP8L header is 14 bits of width-1 and of height-1).
func webpLossless(w, h int) []byte {
	bits := uint32(w-1) | uint32(h-1)<<14
	chunk := append([]byte{0x2f}, binary.LittleEndian.AppendUint32(nil, bits)...)
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(4+8+len(chunk)+1))
	out = append(out, "WEBPVP8L"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(chunk)))
	return append(append(out, chunk...), 0)
}

// withMetadata puts n bytes of APP1 segments (as EXIF or XMP would be)
// between a JPEG's start and its frame header.
func withMetadata(jpg []byte, n int) []byte {
	out := []byte{0xff, 0xd8}
	for n > 0 {
		seg := min(n, 65533)
		out = append(out, 0xff, 0xe1, byte((seg+2)>>8), byte(seg+2))
		out = append(out, bytes.Repeat([]byte{'x'}, seg)...)
		n -= seg
	}
	return append(out, jpg[2:]...)
}

// TestImages_Size: the size is read from each format's header, through
// the same confinement and checks as Check; nothing else is believed.
func TestImages_Size(t *testing.T) {
	base := t.TempDir()
	articles := filepath.Join(base, "articles")
	static := filepath.Join(base, "static", "images")
	files := map[string][]byte{
		"a.png":            encoded(t, "png", 1200, 800),
		"a.jpg":            encoded(t, "jpeg", 640, 427),
		"a.gif":            encoded(t, "gif", 31, 17),
		"a.webp":           webpLossless(1024, 768),
		"metadata.jpg":     withMetadata(encoded(t, "jpeg", 300, 200), 1<<20),
		"claims-huge.png":  pngHeader(1<<31-1, 3),
		"named-wrong.gif":  encoded(t, "png", 10, 20),
		"avif.png":         []byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf"),
		"truncated.png":    pngHeader(100, 100)[:20],
		"bad-checksum.png": append(pngHeader(100, 100)[:29], 0, 0, 0, 0),
		"zero.png":         pngHeader(0, 100),
		"truncated.jpg":    encoded(t, "jpeg", 64, 64)[:20],
		"header-only.gif":  []byte("GIF89a"),
		"fake.png":         []byte("MASTODON_ACCESS_TOKEN=secret\n"),
		"big.png":          append(encoded(t, "png", 2, 2), make([]byte, 3<<20)...),
	}
	for name, data := range files {
		write(t, filepath.Join(articles, name), data)
	}
	write(t, filepath.Join(static, "b.png"), encoded(t, "png", 50, 60))
	write(t, filepath.Join(base, "elsewhere.png"), encoded(t, "png", 5, 5))
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
		path       string
		wantW      int
		wantH      int
		wantErr    error
		wantReason string
	}{
		{"a.png", 1200, 800, nil, ""},
		{"a.jpg", 640, 427, nil, ""},
		{"a.gif", 31, 17, nil, ""},
		{"a.webp", 1024, 768, nil, ""},
		{"metadata.jpg", 300, 200, nil, ""},
		{"claims-huge.png", 1<<31 - 1, 3, nil, ""},
		{"named-wrong.gif", 10, 20, nil, ""},
		{"../static/images/b.png", 50, 60, nil, ""},
		{"avif.png", 0, 0, ErrNoSize, "image/avif"},
		{"truncated.png", 0, 0, ErrNoSize, "gives no size"},
		{"bad-checksum.png", 0, 0, ErrNoSize, "gives no size"},
		{"zero.png", 0, 0, ErrNoSize, ""},
		{"truncated.jpg", 0, 0, ErrNoSize, "gives no size"},
		{"header-only.gif", 0, 0, ErrNoSize, "gives no size"},
		{"fake.png", 0, 0, ErrNotImage, "is not a PNG"},
		{"big.png", 0, 0, ErrTooLarge, "over the 2 MiB limit"},
		{"missing.png", 0, 0, os.ErrNotExist, "not found"},
		{"link.png", 0, 0, ErrOutside, "leaves its folder"},
		{"../elsewhere.png", 0, 0, ErrOutside, "outside the articles folder and media_dirs"},
		{"../../../../proc/self/environ", 0, 0, ErrOutside, "outside"},
		{"pipe.png", 0, 0, ErrNotRegular, "is a FIFO"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			within(t, func() {
				w, h, err := im.Size(filepath.Join(articles, tt.path), 2<<20)
				if got, want := [2]int{w, h}, [2]int{tt.wantW, tt.wantH}; got != want {
					t.Errorf("size = %v, want %v", got, want)
				}
				switch {
				case tt.wantErr == nil && err != nil:
					t.Errorf("err = %v, want none", err)
				case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				case err != nil && !strings.Contains(err.Error(), tt.wantReason):
					t.Errorf("err = %q, want it to say %q", err, tt.wantReason)
				}
				if err != nil && strings.Contains(err.Error(), "secret") {
					t.Error("the error shows the file's content")
				}
			})
		})
	}
}
