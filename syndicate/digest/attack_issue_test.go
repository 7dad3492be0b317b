package digest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/config"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
	"github.com/syndicate-bot/syndicate/templates"
)

// ATTACK: the per-shape fast path (Issue) renders a template that compares a
// reader's value with a constant differently from the exact renderer: the
// marker and the probe both differ from the constant, so the probe agrees
// with the skeleton, and every reader gets the branch of "not equal". A
// template that gates content on a CSV column ("plan" = "free") then gives
// the paid content to free readers in the live send, while the dry run
// (exact Render) shows the right thing.
func TestAttack_IssueIgnoresComparisons(t *testing.T) {
	dir := t.TempDir()
	src, err := templates.Read("", templates.DigestText)
	if err != nil {
		t.Fatal(err)
	}
	src += `{{if ne .Reader.Fields.plan "free"}}PAID-ONLY CONTENT{{else}}Upgrade to read more.{{end}}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, templates.DigestText), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := digest.NewRenderer(dir, config.Default().Email.Subject, "Daily Brief")
	if err != nil {
		t.Fatal(err)
	}
	d := mailable(t, sampleArticles(t))
	free := syndicate.Reader{Email: "free@example.org", Name: "Free", Fields: map[string]string{"name": "Free", "plan": "free"}}
	exact, err := r.Render(d, free, "https://news.example.org/unsubscribe?token=x")
	if err != nil {
		t.Fatal(err)
	}
	fast, err := r.Issue(d).Render(free, "https://news.example.org/unsubscribe?token=x")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(exact.Text, "PAID-ONLY") {
		t.Fatal("the exact renderer gives paid content to a free reader (test is wrong)")
	}
	if fast.Text != exact.Text {
		t.Errorf("Issue.Render differs from Render for a free reader; paid content leaked: %v",
			strings.Contains(fast.Text, "PAID-ONLY"))
	}
}

// TestIssue_DefaultTemplatesUseTheFastPath: the shipped templates print
// readers' values and test them for being empty, nothing else, so a send
// renders per shape, not per reader.
func TestIssue_DefaultTemplatesUseTheFastPath(t *testing.T) {
	r, err := digest.NewRenderer("", config.Default().Email.Subject, "Daily Brief")
	if err != nil {
		t.Fatal(err)
	}
	is := r.Issue(mailable(t, sampleArticles(t)))
	reader := syndicate.Reader{Email: "ada@example.org", Name: "Ada", Fields: map[string]string{"name": "Ada"}}
	if _, err := is.Render(reader, "https://news.example.org/unsubscribe?token=x"); err != nil {
		t.Fatal(err)
	}
	if is.Exact() {
		t.Error("the default templates fell back to rendering every reader exactly")
	}
}
