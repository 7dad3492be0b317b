package job_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
	"github.com/syndicate-bot/syndicate/syndicate/job"
	"github.com/syndicate-bot/syndicate/syndicate/mail"
)

// decodedQP undoes the quoted-printable of a message body, enough to
// search it: soft line breaks and "=3D".
func decodedQP(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "=\r\n", ""), "=3D", "=")
}

// The picture under email.media_base_url is recorded with the digest's
// items, its size read once: the relay dies half-way, the file is deleted
// and the base URL changed, and the readers left still get the very same
// picture as the first ones. It is shown, never attached.
func TestSendDigest_PictureRecordedAndResumed(t *testing.T) {
	e := newDigestEnv(t, 10)
	dir := t.TempDir()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 1072, 600))); err != nil {
		t.Fatal(err)
	}
	pic := filepath.Join(dir, "pics", "ferry.png")
	if err := os.MkdirAll(filepath.Dir(pic), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pic, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	e.d.Options.Pictures = digest.Pictures{BaseURL: "https://harbour.example/media/", ArticlesDir: dir}
	a := article("ferry", epoch.Add(-time.Hour), "The ferry runs again.")
	a.Image = &syndicate.Image{Path: pic, Alt: "The ferry at the quay"}
	plain := article("plain", epoch.Add(-2*time.Hour), "No picture here.")

	e.relay.downAfter = 4
	if _, err := job.SendDigest(context.Background(), e.d, []*syndicate.Article{a, plain}); !errors.Is(err, mail.ErrRelayDown) {
		t.Fatalf("err = %v, want the relay down", err)
	}
	if err := os.Remove(pic); err != nil {
		t.Fatal(err)
	}
	e.d.Options.Pictures.BaseURL = "https://elsewhere.example/"
	e.relay.downAfter = 0
	if rep := e.send(t, a, plain); len(rep.Digests) != 1 || !rep.Digests[0].Resumed || rep.Digests[0].Sent != 6 {
		t.Fatalf("resumed run %+v, want the same digest finished for 6 readers", rep)
	}
	e.everyone(t, 1)
	const want = `<img src="https://harbour.example/media/pics/ferry.png" alt="The ferry at the quay" width="536" height="300" style=`
	for _, r := range e.readers {
		body := decodedQP(e.relay.bodies[syndicate.EmailKey(r)])
		if got := strings.Count(body, "<img "); got != 1 || !strings.Contains(body, want) {
			t.Errorf("%s: %d pictures, want one: %s", r, got, want)
		}
		if strings.Contains(body, "elsewhere.example") || strings.Contains(body, "image/png") || strings.Contains(body, "Content-Disposition") {
			t.Errorf("%s: the picture was attached, or its URL made afresh", r)
		}
	}
}
