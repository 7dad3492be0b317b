package files

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"path/filepath"
	"strings"

	"golang.org/x/image/webp"
)

// MaxImageSize is the most of a picture the bot ever reads: Mastodon's own
// limit for images. A server that allows less is told apart when posting.
const MaxImageSize = 16 << 20

// Image is a picture read for posting or previewing.
type Image struct {
	Path string // as the article named it, resolved
	Name string // the file's base name, sent as the upload's file name
	Type string // the MIME type its bytes say (not its name)
	Data []byte
}

// Images reads pictures: only from the articles folder and the folders
// config's media_dirs names, and only real images.
type Images struct {
	folders []*Folder
}

// OpenImages opens the folders pictures may come from. Close it when done.
func OpenImages(dirs ...string) (*Images, error) {
	im := &Images{}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		f, err := OpenFolder(d)
		if err != nil {
			im.Close()
			return nil, err
		}
		im.folders = append(im.folders, f)
	}
	return im, nil
}

// Close releases the folders.
func (im *Images) Close() error {
	for _, f := range im.folders {
		f.Close()
	}
	return nil
}

// locate finds the folder a path lies in and the path relative to it.
func (im *Images) locate(path string) (*Folder, string, error) {
	for _, f := range im.folders {
		if rel, err := f.Rel(path); err == nil {
			return f, rel, nil
		}
	}
	return nil, "", &Problem{Path: path, Reason: "is outside the articles folder and media_dirs: refused", Err: ErrOutside}
}

// Check reports whether path is a picture the bot may read: inside an
// allowed folder, a regular file, at most limit bytes, and an image by its
// bytes. It reads only the first bytes of the file.
func (im *Images) Check(path string, limit int64) (string, error) {
	f, rel, err := im.locate(path)
	if err != nil {
		return "", err
	}
	file, fi, err := f.Open(rel)
	if err != nil {
		return "", err
	}
	defer file.Close()
	if fi.Size() > limit {
		return "", &Problem{Path: path, Reason: fmt.Sprintf("is %s, over the %s limit for pictures", Size(fi.Size()), Size(limit)), Err: ErrTooLarge}
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(file, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", &Problem{Path: path, Reason: "cannot be read: " + err.Error(), Err: err}
	}
	typ := Sniff(head[:n])
	if typ == "" {
		return "", &Problem{Path: path, Reason: "is not a PNG, JPEG, GIF, WebP or AVIF picture (by its content)", Err: ErrNotImage}
	}
	return typ, nil
}

// Read reads a picture whole, with the checks of Check, at most limit bytes.
func (im *Images) Read(path string, limit int64) (Image, error) {
	f, rel, err := im.locate(path)
	if err != nil {
		return Image{}, err
	}
	data, _, err := f.ReadFile(rel, limit)
	if err != nil {
		return Image{}, err
	}
	typ := Sniff(data)
	if typ == "" {
		return Image{}, &Problem{Path: path, Reason: "is not a PNG, JPEG, GIF, WebP or AVIF picture (by its content)", Err: ErrNotImage}
	}
	return Image{Path: path, Name: filepath.Base(path), Type: typ, Data: data}, nil
}

// ErrNotImage is a file whose bytes are not a picture the bot posts.
var ErrNotImage = fmt.Errorf("not an image")

// ErrNoSize is a picture whose size cannot be read from its header: an
// AVIF (no decoder here), or a header that is broken or gives no size.
var ErrNoSize = errors.New("no size readable from its header")

// Size reads a picture's width and height in pixels from its header, with
// the checks of Check (inside an allowed folder, a regular file of at
// most limit bytes, an image by its bytes): PNG, JPEG, GIF and WebP. An
// AVIF, or a broken header, is ErrNoSize. It decodes no pixels, so a
// picture claiming to be enormous costs nothing, and it reads only as far
// as the header (a JPEG's may come after its metadata), never past limit.
// Each format's own decoder is called by the type the bytes say: nothing
// is registered with package image.
func (im *Images) Size(path string, limit int64) (width, height int, err error) {
	f, rel, err := im.locate(path)
	if err != nil {
		return 0, 0, err
	}
	file, fi, err := f.Open(rel)
	if err != nil {
		return 0, 0, err
	}
	defer file.Close()
	if fi.Size() > limit {
		return 0, 0, &Problem{Path: path, Reason: fmt.Sprintf("is %s, over the %s limit for pictures", Size(fi.Size()), Size(limit)), Err: ErrTooLarge}
	}
	w, h, err := dimensions(bufio.NewReader(io.LimitReader(file, limit)))
	if p, ok := err.(*Problem); ok {
		p.Path = path
	}
	return w, h, err
}

// ImageSize reads a picture's width and height from its bytes, as Size
// does from a file (a feed item's picture, fetched).
func ImageSize(data []byte) (width, height int, err error) {
	return dimensions(bufio.NewReader(bytes.NewReader(data)))
}

// dimensions reads a picture's size from its header; problems have no
// Path (the caller names the picture).
func dimensions(r *bufio.Reader) (width, height int, err error) {
	head, err := r.Peek(512)
	if err != nil && err != io.EOF {
		return 0, 0, &Problem{Reason: "cannot be read: " + err.Error(), Err: err}
	}
	var decode func(io.Reader) (image.Config, error)
	switch typ := Sniff(head); typ {
	case "image/png":
		decode = png.DecodeConfig
	case "image/jpeg":
		decode = jpeg.DecodeConfig
	case "image/gif":
		decode = gif.DecodeConfig
	case "image/webp":
		decode = webp.DecodeConfig
	case "":
		return 0, 0, &Problem{Reason: "is not a PNG, JPEG, GIF, WebP or AVIF picture (by its content)", Err: ErrNotImage}
	default:
		return 0, 0, &Problem{Reason: "is " + typ + ", whose size is not read", Err: ErrNoSize}
	}
	cfg, err := decode(r)
	if err != nil {
		return 0, 0, &Problem{Reason: "has a header that gives no size: " + err.Error(), Err: ErrNoSize}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return 0, 0, &Problem{Reason: fmt.Sprintf("says it is %d×%d pixels", cfg.Width, cfg.Height), Err: ErrNoSize}
	}
	return cfg.Width, cfg.Height, nil
}

// Sniff returns the MIME type of a picture from its first bytes: PNG,
// JPEG, GIF, WebP or AVIF; "" for anything else.
func Sniff(head []byte) string {
	// AVIF is an ISO-BMFF file: a "ftyp" box whose brands say avif.
	if len(head) >= 16 && string(head[4:8]) == "ftyp" {
		size := int(head[0])<<24 | int(head[1])<<16 | int(head[2])<<8 | int(head[3])
		box := head[8:min(len(head), max(size, 16))]
		for i := 0; i+4 <= len(box); i += 4 {
			if b := string(box[i : i+4]); b == "avif" || b == "avis" {
				return "image/avif"
			}
		}
		return ""
	}
	switch t := http.DetectContentType(head); t {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return t
	}
	return ""
}

// Supported reports whether typ is among the types a server accepts; an
// empty list (the server does not say) accepts the usual four.
func Supported(typ string, accepted []string) bool {
	if len(accepted) == 0 {
		return typ == "image/png" || typ == "image/jpeg" || typ == "image/gif" || typ == "image/webp"
	}
	for _, a := range accepted {
		if strings.EqualFold(strings.TrimSpace(a), typ) {
			return true
		}
	}
	return false
}
