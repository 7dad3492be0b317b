package bluesky

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
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// noisy is a w×h PNG of random pixels (a fixed seed), which no encoder
// can compress much: the worst case for the shrink path.
func noisy(t testing.TB, w, h int, alpha bool) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.Uint32())
		if !alpha && i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	return img
}

func TestFit_AsItIs(t *testing.T) {
	var pngb, jpgb, gifb bytes.Buffer
	png.Encode(&pngb, gradient(300, 200))
	jpeg.Encode(&jpgb, gradient(120, 640), nil)
	gif.Encode(&gifb, gradient(64, 48), nil)
	for _, tt := range []struct {
		typ  string
		data []byte
		w, h int
	}{
		{"image/png", pngb.Bytes(), 300, 200},
		{"image/jpeg", jpgb.Bytes(), 120, 640},
		{"image/gif", gifb.Bytes(), 64, 48},
		{"", pngb.Bytes(), 300, 200}, // sniffed
	} {
		data, typ, w, h, err := Fit(syndicate.Picture{Name: "p", Type: tt.typ, Data: tt.data})
		if err != nil {
			t.Fatalf("%s: %v", tt.typ, err)
		}
		if !bytes.Equal(data, tt.data) || w != tt.w || h != tt.h || (tt.typ != "" && typ != tt.typ) {
			t.Errorf("%s: %s %d×%d (same bytes: %v), want %d×%d as it is", tt.typ, typ, w, h, bytes.Equal(data, tt.data), tt.w, tt.h)
		}
	}
}

func TestFit_Refusals(t *testing.T) {
	for _, pic := range []syndicate.Picture{
		{Name: "a.bmp", Type: "image/bmp", Data: []byte("BM....")},
		{Name: "a.png", Type: "image/png", Data: []byte("not a picture at all")},
		{Name: "a.txt", Data: []byte("plain text")},
	} {
		if _, _, _, _, err := Fit(pic); !errors.Is(err, syndicate.ErrRejected) {
			t.Errorf("%s: err = %v, want ErrRejected", pic.Name, err)
		}
	}
}

func TestFit_Shrink(t *testing.T) {
	// 1.2 MB of noise: over the limit as a PNG, and re-encoded as a JPEG
	// at its own size it fits.
	const w0, h0 = 520, 560
	src := noisy(t, w0, h0, true)
	if len(src) <= MaxImageSize {
		t.Fatalf("the test picture is only %d bytes", len(src))
	}
	data, typ, w, h, err := Fit(syndicate.Picture{Name: "noise.png", Type: "image/png", Data: src})
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > MaxImageSize || typ != "image/jpeg" {
		t.Fatalf("%d bytes of %s", len(data), typ)
	}
	checkJPEG(t, data, w, h)
	if w != w0 || h != h0 {
		t.Errorf("%d×%d, want %d×%d", w, h, w0, h0)
	}
	// The same picture always gives the same bytes: uploaded again after
	// a crash it is the same blob.
	again, _, _, _, _ := Fit(syndicate.Picture{Name: "noise.png", Type: "image/png", Data: src})
	if !bytes.Equal(again, data) {
		t.Error("a second Fit gave other bytes")
	}
	t.Logf("%d bytes %d×%d → %d bytes %d×%d", len(src), w0, h0, len(data), w, h)
}

// TestShrink_Scales: a picture that does not fit at its own size is
// scaled down, its shape kept, until it does (the limit here is small to
// keep the test quick; the steps are those of a large picture).
func TestShrink_Scales(t *testing.T) {
	const w0, h0, limit = 400, 250, 40_000
	img, err := png.Decode(bytes.NewReader(noisy(t, w0, h0, false)))
	if err != nil {
		t.Fatal(err)
	}
	data, w, h, err := shrink(img, limit)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > limit || w >= w0 || h >= h0 {
		t.Fatalf("%d bytes at %d×%d", len(data), w, h)
	}
	checkJPEG(t, data, w, h)
	if d := w*h0 - h*w0; d < -w0 || d > w0 {
		t.Errorf("%d×%d does not keep %d×%d's shape", w, h, w0, h0)
	}
	// Wider than the app shows: scaled to 2000 pixels first.
	wide := image.NewRGBA(image.Rect(0, 0, 2600, 40))
	data, w, h, err = shrink(wide, limit)
	if err != nil || w != 2000 || h != 30 {
		t.Errorf("%d×%d, %v; want 2000×30", w, h, err)
	}
	checkJPEG(t, data, w, h)
}

func checkJPEG(t *testing.T, data []byte, w, h int) {
	t.Helper()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || format != "jpeg" || cfg.Width != w || cfg.Height != h {
		t.Fatalf("decodes as %s %d×%d (%v), want a %d×%d JPEG", format, cfg.Width, cfg.Height, err, w, h)
	}
	if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

func TestShrink_CannotFit(t *testing.T) {
	img, err := png.Decode(bytes.NewReader(noisy(t, 400, 300, false)))
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = shrink(img, 2000)
	if err == nil || !strings.Contains(err.Error(), "at 320×240 pixels") {
		t.Errorf("err = %v, want a give-up at the smallest size", err)
	}
}

// TestFit_TooManyPixels: a picture whose header claims more pixels than
// are decoded safely is ErrPictureTooLarge, and is never decoded.
func TestFit_TooManyPixels(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 20000)
	binary.BigEndian.PutUint32(ihdr[4:], 20000)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	chunk("IHDR", ihdr)
	chunk("IDAT", make([]byte, MaxImageSize))
	_, _, _, _, err := Fit(syndicate.Picture{Name: "huge.png", Type: "image/png", Data: b.Bytes()})
	if !errors.Is(err, ErrPictureTooLarge) || errors.Is(err, syndicate.ErrRejected) {
		t.Errorf("err = %v, want ErrPictureTooLarge", err)
	}
}
