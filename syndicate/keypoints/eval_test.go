package keypoints

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sentencesEnglish "github.com/neurosnap/sentences/english"

	"github.com/syndicate-bot/syndicate/syndicate/internal/rouge"
)

// corpusDir holds the evaluation set beside the repository (see
// ../shared/corpus/SOURCES.md); a fresh clone has none, and the tests
// skip. SYNDICATE_CORPUS_DIR names it elsewhere: from a git worktree that
// is not beside shared/, the relative path finds nothing.
func corpusDir() string {
	if d := os.Getenv("SYNDICATE_CORPUS_DIR"); d != "" {
		return d
	}
	return "../../../shared/corpus"
}

type example struct {
	id, article string
	highlights  []string
}

func loadCorpus(t testing.TB) []example {
	t.Helper()
	corpusPath := filepath.Join(corpusDir(), "cnn-dev.csv")
	f, err := os.Open(corpusPath)
	if err != nil {
		t.Skipf("no evaluation corpus at %s (it sits beside the repository, in shared/, or set SYNDICATE_CORPUS_DIR): %v", corpusPath, err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []example
	for _, r := range rows[1:] {
		var hl []string
		for _, h := range strings.Split(r[2], "\n") {
			if h = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(h), " .")); h != "" {
				hl = append(hl, h)
			}
		}
		out = append(out, example{id: r[0], article: r[1], highlights: hl})
	}
	return out
}

// lead3 is the yardstick: the first three sentences, with the same
// splitter and dateline stripping as the extractor.
func lead3(article string) []string {
	s := Sentences(article, "en")
	if len(s) > 0 {
		s[0] = StripDateline(s[0])
	}
	return s[:min(3, len(s))]
}

type mean struct {
	r1, r2, rl float64
	n          int
}

func (m *mean) add(s rouge.Scores) { m.r1 += s.R1; m.r2 += s.R2; m.rl += s.RL; m.n++ }
func (m mean) String() string {
	return fmt.Sprintf("%6.2f %6.2f %6.2f", 100*m.r1/float64(m.n), 100*m.r2/float64(m.n), 100*m.rl/float64(m.n))
}

// TestEvaluateCNN prints ROUGE-1/2/L F1 of the extractor and of Lead-3 on
// the CNN dev set, and fails unless the extractor beats Lead-3 on ROUGE-1
// and ROUGE-2. Run: go test -run EvaluateCNN -v ./syndicate/keypoints/
func TestEvaluateCNN(t *testing.T) {
	corpus := loadCorpus(t)
	var ours, lead mean
	for _, ex := range corpus {
		ref := strings.Join(ex.highlights, "\n")
		ours.add(rouge.Score(strings.Join(Extract([]string{ex.article}, Options{Count: 3, Lang: "en"}), "\n"), ref))
		lead.add(rouge.Score(strings.Join(lead3(ex.article), "\n"), ref))
	}
	t.Logf("%d CNN articles (cnn-dev.csv), ROUGE F1 x100, same tokenizer and stemmer for both:", len(corpus))
	t.Logf("%-10s %6s %6s %6s", "", "R-1", "R-2", "R-L")
	t.Logf("%-10s %s", "extractor", ours)
	t.Logf("%-10s %s", "Lead-3", lead)
	if ours.r1 <= lead.r1 || ours.r2 <= lead.r2 {
		t.Errorf("the extractor does not beat Lead-3 on ROUGE-1 and ROUGE-2")
	}
}

// TestEvaluateStories prints the same figures on the ten .story files
// (CNN's training split, never used for tuning): a check that the
// weights did not just fit the dev set. It only reports.
func TestEvaluateStories(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpusDir(), "cnn-stories", "*.story"))
	if len(files) == 0 {
		t.Skipf("no cnn-stories in %s (beside the repository, in shared/, or set SYNDICATE_CORPUS_DIR)", filepath.Clean(corpusDir()))
	}
	var ours, lead mean
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text, hl, _ := strings.Cut(string(b), "@highlight")
		var paras, highlights []string
		for _, p := range strings.Split(text, "\n\n") {
			if p = strings.TrimSpace(p); p != "" {
				paras = append(paras, p)
			}
		}
		for _, h := range strings.Split("@highlight"+hl, "@highlight") {
			if h = strings.TrimSpace(h); h != "" {
				highlights = append(highlights, h)
			}
		}
		ref := strings.Join(highlights, "\n")
		ours.add(rouge.Score(strings.Join(Extract(paras, Options{Count: 3}), "\n"), ref))
		lead.add(rouge.Score(strings.Join(lead3(strings.Join(paras, " ")), "\n"), ref))
	}
	t.Logf("%d CNN stories (cnn-stories/*.story, held out), ROUGE F1 x100:", len(files))
	t.Logf("%-10s %6s %6s %6s", "", "R-1", "R-2", "R-L")
	t.Logf("%-10s %s", "extractor", ours)
	t.Logf("%-10s %s", "Lead-3", lead)
}

// TestTokenizer_SameAsLibrary checks the faster English tokenizer, and
// the split that asks it only about ambiguous periods, split every
// article of the corpus exactly as the library's own tokenizer does.
func TestTokenizer_SameAsLibrary(t *testing.T) {
	corpus := loadCorpus(t)
	lib, err := sentencesEnglish.NewSentenceTokenizer(nil)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := newEnglishTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range corpus {
		a, b := lib.Tokenize(ex.article), ours.Tokenize(ex.article)
		if len(a) != len(b) {
			t.Fatalf("%s: %d sentences, the library %d", ex.id, len(b), len(a))
		}
		for i := range a {
			if a[i].Text != b[i].Text {
				t.Fatalf("%s sentence %d: %q, the library %q", ex.id, i, b[i].Text, a[i].Text)
			}
		}
		hybrid := splitEnglish(ours, ex.article)
		if len(hybrid) != len(a) {
			t.Fatalf("%s: the split gives %d sentences, the library %d", ex.id, len(hybrid), len(a))
		}
		for i := range a {
			if hybrid[i] != strings.TrimSpace(a[i].Text) {
				t.Fatalf("%s sentence %d: %q, the library %q", ex.id, i, hybrid[i], a[i].Text)
			}
		}
	}
}
