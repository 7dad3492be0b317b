package bluesky

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // decoders for image.Decode
	"image/jpeg"
	_ "image/png"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/bluesky-social/indigo/api/bsky"
	lexutil "github.com/bluesky-social/indigo/lex/util"
	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// ErrPictureTooLarge is returned by Upload for a picture that cannot be
// made to fit MaxImageSize (or is too large to decode safely). Nothing was
// uploaded, and the post can go without it: the caller logs the error and
// posts with no media, and a head post then carries its link card. It is
// syndicate.ErrPictureTooLarge, which the post job knows.
var ErrPictureTooLarge = syndicate.ErrPictureTooLarge

// Shrinking: a picture over MaxImageSize is decoded, laid on white (JPEG
// has no transparency), scaled to at most maxSide pixels on its longer
// side, and encoded as JPEG at each quality in turn; while none fits, the
// sides shrink (by the square root of how far over the limit the last
// try was, and a tenth at least), down to minSide. The steps are fixed, so the
// same picture always gives the same bytes (and, uploaded again after a
// crash, the same blob and so the same record).
const (
	maxSide   = 2000 // the Bluesky app's own upper bound
	minSide   = 320
	maxPixels = 80_000_000 // larger pictures are not decoded at all
)

var qualities = []int{85, 70}

// Upload uploads a picture (com.atproto.repo.uploadBlob) and returns what
// Post embeds: the JSON of an app.bsky.embed.images#image — the blob
// reference, the alt text and the aspect ratio from the picture's
// dimensions. A picture over MaxImageSize is re-encoded as JPEG and
// scaled down until it fits (see above); when it cannot be made to fit,
// the error is ErrPictureTooLarge. A type other than ImageTypes, or bytes
// that are no picture, are syndicate.ErrRejected.
func (c *Client) Upload(ctx context.Context, pic syndicate.Picture, description string) (string, error) {
	op := "upload " + clean(pic.Name, 200)
	data, typ, w, h, err := Fit(pic)
	if err != nil {
		return "", fmt.Errorf("bluesky: %s: %w", op, err)
	}
	if len(data) != len(pic.Data) {
		c.opts.Logger.Info("bluesky: picture re-encoded to fit", "picture", pic.Name, "from_bytes", len(pic.Data), "to_bytes", len(data),
			"width", w, "height", h, "type", typ)
	}
	var out struct {
		Blob *lexutil.LexBlob `json:"blob"`
	}
	if err := c.call(ctx, op, request{method: http.MethodPost, nsid: "com.atproto.repo.uploadBlob", ctype: typ, body: data}, &out); err != nil {
		return "", err
	}
	if out.Blob == nil || !out.Blob.Ref.Defined() {
		return "", fmt.Errorf("bluesky: %s: the PDS answered without a blob", op)
	}
	if !strings.HasPrefix(out.Blob.MimeType, "image/") {
		return "", rejectf(op, "the PDS took the picture as %s, not an image", clean(out.Blob.MimeType, 100))
	}
	img := bsky.EmbedImages_Image{
		Alt:         description,
		AspectRatio: &bsky.EmbedDefs_AspectRatio{Width: int64(w), Height: int64(h)},
		Image:       out.Blob,
	}
	b, err := json.Marshal(&img)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Fit is the picture as it is posted: its bytes, their type and its width
// and height. A picture of a type Bluesky takes within MaxImageSize is
// posted as it is; a larger one is shrunk (see Upload).
func Fit(pic syndicate.Picture) (data []byte, typ string, width, height int, err error) {
	typ = pic.Type
	if typ == "" {
		typ = http.DetectContentType(pic.Data)
	}
	if !slices.Contains(ImageTypes, typ) {
		return nil, "", 0, 0, fmt.Errorf("%w: a picture of type %s (Bluesky takes %s)", syndicate.ErrRejected, typ, strings.Join(ImageTypes, ", "))
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(pic.Data))
	if err != nil {
		return nil, "", 0, 0, fmt.Errorf("%w: the picture cannot be read: %v", syndicate.ErrRejected, err)
	}
	if cfg.Width < 1 || cfg.Height < 1 {
		return nil, "", 0, 0, fmt.Errorf("%w: the picture is %d×%d pixels", syndicate.ErrRejected, cfg.Width, cfg.Height)
	}
	if len(pic.Data) <= MaxImageSize {
		return pic.Data, typ, cfg.Width, cfg.Height, nil
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, "", 0, 0, fmt.Errorf("%w: %d bytes and %d×%d pixels, too many to shrink", ErrPictureTooLarge, len(pic.Data), cfg.Width, cfg.Height)
	}
	src, _, err := image.Decode(bytes.NewReader(pic.Data))
	if err != nil {
		return nil, "", 0, 0, fmt.Errorf("%w: the picture cannot be read: %v", syndicate.ErrRejected, err)
	}
	data, width, height, err = shrink(src, MaxImageSize)
	if err != nil {
		return nil, "", 0, 0, fmt.Errorf("%w: %d bytes, %d×%d pixels: %v", ErrPictureTooLarge, len(pic.Data), cfg.Width, cfg.Height, err)
	}
	return data, "image/jpeg", width, height, nil
}

// shrink encodes src as a JPEG of at most limit bytes.
func shrink(src image.Image, limit int) ([]byte, int, int, error) {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	if long := max(w, h); long > maxSide {
		w, h = scaled(w, h, maxSide)
	}
	smallest := 0
	for {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		if w == b.Dx() && h == b.Dy() {
			draw.Draw(img, img.Bounds(), src, b.Min, draw.Over)
		} else {
			draw.CatmullRom.Scale(img, img.Bounds(), src, b, draw.Over, nil)
		}
		for _, q := range qualities {
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
				return nil, 0, 0, err
			}
			if buf.Len() <= limit {
				return buf.Bytes(), w, h, nil
			}
			smallest = buf.Len()
		}
		long := max(w, h)
		if long <= minSide {
			return nil, 0, 0, fmt.Errorf("still %d bytes at %d×%d pixels", smallest, w, h)
		}
		// The bytes go with the pixels, so with the square of a side: aim
		// a little under the limit, and shrink by a tenth at least.
		next := int(float64(long) * math.Sqrt(float64(limit)/float64(smallest)) * 0.95)
		w, h = scaled(w, h, max(minSide, min(next, long*9/10)))
	}
}

// scaled is w×h scaled so that the longer side is long, each side at
// least one pixel.
func scaled(w, h, long int) (int, int) {
	if w >= h {
		return long, max(1, int(int64(h)*int64(long)/int64(w)))
	}
	return max(1, int(int64(w)*int64(long)/int64(h))), long
}
