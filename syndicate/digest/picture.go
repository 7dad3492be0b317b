package digest

import (
	"net/url"
	"path/filepath"
	"strings"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/files"
	"github.com/syndicate-bot/syndicate/syndicate/text"
)

// Pictures says where a digest's pictures are published, so that its HTML
// part can show them (by URL: a picture is never attached to the message).
// The zero value shows only the pictures that have a public URL of their
// own.
type Pictures struct {
	// BaseURL is email.media_base_url, where the articles folder's
	// pictures are published: a picture file's path relative to
	// ArticlesDir, each segment escaped, is appended to it. A file outside
	// ArticlesDir (one from media_dirs) gets no URL from it.
	BaseURL string
	// ArticlesDir is the articles folder and MediaDirs the other folders
	// pictures may come from: a local picture's width and height are read
	// from its file, inside them (see files.Images.Size).
	ArticlesDir string
	MediaDirs   []string
}

// The size a picture is shown at: the built-in template's column is 600
// px less 32 px of padding on each side.
const (
	// MaxPictureWidth is the widest a picture is shown: a wider one is
	// scaled down to it, its height in proportion. A picture of unknown
	// size is shown this wide with no height, which mail clients fill in
	// from the picture's own proportions.
	MaxPictureWidth = 536
	// MaxPictureHeight is the tallest: a taller one (after the width is
	// fitted) is scaled down to it, its width in proportion.
	MaxPictureHeight = 1600
)

// Picture is a picture as the templates show it: its URL, its alt text,
// and the width and height in pixels to show it at (Height 0: unknown,
// give none).
type Picture struct {
	URL    string
	Alt    string
	Width  int
	Height int
}

// pictureURL is the public URL of an article's picture: its own (a feed's,
// or front matter's image_url), else BaseURL and the file's path; "" when
// it has none that passes syndicate.CheckImageURL.
func (p Pictures) pictureURL(img *syndicate.Image) string {
	if u := strings.TrimSpace(img.URL); u != "" && syndicate.CheckImageURL(u) == nil {
		return u
	}
	return mediaURL(p.BaseURL, p.ArticlesDir, img.Path)
}

// mediaURL appends path, relative to dir, to base, escaping each segment;
// "" when path is not inside dir (a picture from media_dirs, which base
// does not publish) or the result is not a picture URL.
func mediaURL(base, dir, path string) string {
	if base == "" || dir == "" || path == "" {
		return ""
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	absPath, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	rel, err := filepath.Rel(absDir, absPath)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return ""
	}
	segs := strings.Split(filepath.ToSlash(rel), "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	u := base + strings.Join(segs, "/")
	if syndicate.CheckImageURL(u) != nil {
		return ""
	}
	return u
}

// sizer reads the sizes of local pictures, opening the folders they may
// lie in on first use.
type sizer struct {
	dirs   []string
	images *files.Images
	opened bool
}

func newSizer(p Pictures) *sizer {
	return &sizer{dirs: append([]string{p.ArticlesDir}, p.MediaDirs...)}
}

// size is a picture file's width and height, or 0, 0 when they cannot be
// read (the picture is still shown, at MaxPictureWidth).
func (s *sizer) size(path string) (int, int) {
	if s == nil || path == "" {
		return 0, 0
	}
	if !s.opened {
		s.opened = true
		if im, err := files.OpenImages(s.dirs...); err == nil {
			s.images = im
		}
	}
	if s.images == nil {
		return 0, 0
	}
	w, h, err := s.images.Size(path, files.MaxImageSize)
	if err != nil {
		return 0, 0
	}
	return w, h
}

func (s *sizer) close() {
	if s != nil && s.images != nil {
		s.images.Close()
	}
}

// digestImage is the picture an item records, or nil when the article
// has no public one. Its size is the image's own when it says (a feed's),
// else its file's.
func (p Pictures) digestImage(img *syndicate.Image, s *sizer) *syndicate.DigestImage {
	u := p.pictureURL(img)
	if u == "" {
		return nil
	}
	di := &syndicate.DigestImage{URL: u, Alt: text.Shorten(img.Alt, MaxPhotoLength)}
	if img.Width > 0 && img.Height > 0 {
		di.Width, di.Height = img.Width, img.Height
	} else {
		di.Width, di.Height = s.size(img.Path)
	}
	return di
}

// picture is a recorded picture as the templates show it, or nil when its
// URL does not pass syndicate.CheckImageURL (an item recorded by another
// version, or built by hand): no other URL reaches an src.
func picture(di *syndicate.DigestImage) *Picture {
	if di == nil || syndicate.CheckImageURL(di.URL) != nil {
		return nil
	}
	w, h := displaySize(di.Width, di.Height)
	return &Picture{URL: di.URL, Alt: di.Alt, Width: w, Height: h}
}

// displaySize fits a picture of w×h pixels into MaxPictureWidth ×
// MaxPictureHeight, keeping its proportions and never enlarging it. An
// unknown size is MaxPictureWidth wide with no height.
func displaySize(w, h int) (int, int) {
	if w <= 0 || h <= 0 {
		return MaxPictureWidth, 0
	}
	// In 64 bits: a PNG header may claim 2³¹ pixels a side.
	W, H := int64(w), int64(h)
	if W > MaxPictureWidth {
		H, W = max(1, (H*MaxPictureWidth+W/2)/W), MaxPictureWidth
	}
	if H > MaxPictureHeight {
		W, H = max(1, (W*MaxPictureHeight+H/2)/H), MaxPictureHeight
	}
	return int(W), int(H)
}
