package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stopsOnSIGTERM starts the binary, sends one SIGTERM after a second and
// reports whether it exited within grace.
func stopsOnSIGTERM(t *testing.T, e *env, grace time.Duration, args ...string) {
	t.Helper()
	cmd, _, stderr := e.command(args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-done
		t.Errorf("syndicate %v still running %v after SIGTERM (killed)\n%s", args, grace, stderr)
	}
}

// ATTACK: the first SIGTERM only cancels a context; one-shot commands
// (check, post, digest, preview) have no grace timer, so anything that does
// not look at the context keeps the process alive until SIGKILL:
//   - a FIFO in templates_dir (templates.Read uses os.ReadFile: blocks);
//   - an article that is slow to compose (see the thread and keypoints
//     attack tests: minutes of CPU for a 1 MiB file).
//
// The daemon has a 10 s grace and stops; "check" and "post" do not.
func TestAttack_OneShotCommandsIgnoreSIGTERM(t *testing.T) {
	t.Run("FIFO template", func(t *testing.T) {
		e := newEnv(t, "", "harbour-library-reopens.md")
		os.Mkdir(e.path("templates"), 0o755)
		if err := syscall.Mkfifo(e.path("templates/post-head.tmpl"), 0o644); err != nil {
			t.Fatal(err)
		}
		stopsOnSIGTERM(t, e, 15*time.Second, "check")
	})
	t.Run("slow article", func(t *testing.T) {
		e := newEnv(t, "", "harbour-library-reopens.md")
		var b strings.Builder
		b.WriteString("# Long\n\n")
		for i := 0; i < 8000; i++ {
			fmt.Fprintf(&b, "Alpha beta gamma delta epsilon zeta%d. ", i)
		}
		e.write("articles/long.md", b.String())
		stopsOnSIGTERM(t, e, 15*time.Second, "post", "--dry-run")
	})
}

// ATTACK: a hard link in the articles folder to a file outside it is read
// as an article (os.Root checks names, not inodes) and posted. An Ed25519
// DKIM key is short enough to be the head post whole.
func TestAttack_HardLinkedKeyIsPosted(t *testing.T) {
	e := newEnv(t, "")
	key := "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBfdsfAFMcyKDxUhAgnpSqJ5o0XmhMgyax0XAF5zH+9P\n-----END PRIVATE KEY-----\n"
	e.write("dkim.pem", key)
	if err := os.Link(e.path("dkim.pem"), e.path("articles/leak.md")); err != nil {
		t.Skip(err)
	}
	r := e.run("post", "--dry-run", "--all")
	if strings.Contains(r.stdout, "MC4CAQAwBQYDK2VwBCIEIBfdsfAFMcyKDxUhAgnpSqJ5o0XmhMgyax0XAF5zH+9P") {
		t.Errorf("the DKIM private key, hard-linked into articles/, would be posted:\n%s", r.stdout)
	}
}

// ATTACK: preview and digest --dry-run --out create their files with
// os.Create/os.WriteFile, following a symlink planted in the output
// folder: any file the bot's user can write is replaced by the page.
func TestAttack_OutputFilesFollowSymlinks(t *testing.T) {
	e := newEnv(t, "email: {from: \"Daily Brief <brief@example.org>\"}\n")
	e.write("victim1", "precious\n")
	e.write("victim2", "precious\n")
	os.MkdirAll(e.path("pv"), 0o755)
	os.MkdirAll(e.path("out"), 0o755)
	os.Symlink(e.path("victim1"), e.path("pv/index.html"))
	os.Symlink(e.path("victim2"), e.path("out/digest.eml"))
	e.run("preview", "--out", e.path("pv"))
	e.run("digest", "--dry-run", "--out", e.path("out"))
	for _, v := range []string{"victim1", "victim2"} {
		if got := readFile(t, e.path(v)); got != "precious\n" {
			t.Errorf("%s was overwritten through a symlink in the output folder (now %d bytes)", v, len(got))
		}
	}
}

// ATTACK: preview inlines every post's picture as a data: URI, once per
// card, and holds every thread in memory before rendering. Forty tiny
// articles naming the same 16 MiB PNG made "syndicate preview" take
// 1.96 GB RSS and write an 895 MB index.html; a few hundred OOM-kill it
// (or fill the disk). Here: 8 articles, one 16 MiB picture.
func TestAttack_PreviewInlinesEveryCopy(t *testing.T) {
	e := newEnv(t, "", "harbour-library-reopens.md")
	png := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
	e.write("articles/big.png", png+strings.Repeat("\x00", 16<<20-len(png)-16))
	for i := 0; i < 8; i++ {
		e.write(fmt.Sprintf("articles/a%d.md", i), fmt.Sprintf("---\ntitle: Article %d\nimage: big.png\nimage_alt: x\n---\nBody text here.\n", i))
	}
	e.run("preview", "--out", e.path("pv"))
	fi, err := os.Stat(e.path("pv/index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 64<<20 {
		t.Errorf("index.html is %d MiB for 8 articles sharing one 16 MiB picture", fi.Size()>>20)
	}
}

// ATTACK: the digest caps the number of articles (email.max_articles, 25)
// but not their key points or the message size: articles rejected for
// posting by max_posts_per_thread are still mailed whole. Five files of
// ~900 KB (a KEY POINTS block of 11,000 bullets) make an 11.6 MB message;
// the test relay (10 MB, like Postfix's default message_size_limit)
// answers 552 and every reader fails permanently. Also a long one-word
// title: see syndicate/mail TestAttack_LongHeaderLine.
func TestAttack_HugeDigestFailsEveryReader(t *testing.T) {
	e, relay := digestEnv(t, 3, "")
	for a := 0; a < 5; a++ {
		var b strings.Builder
		fmt.Fprintf(&b, "# Big %d\n\nKEY POINTS\n", a)
		for i := 0; i < 11000; i++ {
			fmt.Fprintf(&b, "- Point %d of article %d with a few more words to make it longer than usual here.\n", i, a)
		}
		b.WriteString("\nBody.\n")
		e.write(fmt.Sprintf("articles/big%d.md", a), b.String())
	}
	r := e.run("digest")
	if relay.Delivered() != 3 {
		t.Errorf("%d of 3 readers got the digest\n%s", relay.Delivered(), r)
	}
}
