package files

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ATTACK: os.Root confines names, not inodes. A hard link inside the
// articles folder to a file outside it (the DKIM key, a config with a
// literal password, another user's draft) opens as a regular file inside
// the folder, and its text is posted to Mastodon as an article (and its
// bytes uploaded as a picture, if it is one). Linux's
// fs.protected_hardlinks=1 limits who can make such links, but not a
// same-user sync (rsync -H, tar x, a CMS export) or a system with it off.
// Folder.Open has the inode's Stat_t at hand: a link count above 1 is the
// signal.
func TestAttack_HardLinkLeavesTheFolder(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "articles")
	secret := filepath.Join(base, "dkim.pem")
	write(t, secret, []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+secret+key+material\n-----END PRIVATE KEY-----\n"))
	write(t, filepath.Join(dir, "ok.md"), []byte("fine"))
	if err := os.Link(secret, filepath.Join(dir, "leak.md")); err != nil {
		t.Skip("cannot make a hard link here:", err)
	}
	f, err := OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, _, err := f.ReadFile("leak.md", 1<<20)
	if err == nil && strings.Contains(string(data), "PRIVATE KEY") {
		t.Errorf("read a file outside the folder through a hard link (%d bytes of %s)", len(data), secret)
	}
}
