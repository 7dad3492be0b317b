package syndicate

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
)

// MaxImageURLLength is the longest public picture URL accepted, in bytes.
const MaxImageURLLength = 2048

// CheckImageURL says what is wrong with a picture's public URL, or returns
// nil. The URL goes into every reader's message, so it must be an absolute
// http or https URL with a host; hold no user name or password (every
// reader would receive them); be at most MaxImageURLLength bytes; and hold
// no control, space or format character and none of " < > \ ` (a URL
// writes them percent-encoded, %20 for a space). Every picture URL a
// digest shows passes it, whatever its source: a feed, front matter's
// image_url or email.media_base_url.
func CheckImageURL(s string) error {
	if len(s) > MaxImageURLLength {
		return fmt.Errorf("is %d bytes, over the %d-byte limit for a picture URL", len(s), MaxImageURLLength)
	}
	for _, r := range s {
		switch {
		case r == ' ':
			return errors.New("holds a space: write it %20")
		case unicode.IsControl(r) || unicode.IsSpace(r) || unicode.In(r, unicode.Cf):
			return fmt.Errorf("holds the control, space or format character %U", r)
		case strings.ContainsRune("\"<>\\`", r):
			return fmt.Errorf("holds %q: write it percent-encoded", r)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("is not a URL")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return errors.New("is not an absolute http or https URL")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return errors.New("has no host (want https://host/path)")
	case u.User != nil:
		return errors.New("holds a user name or password, which every reader would receive")
	}
	return nil
}
