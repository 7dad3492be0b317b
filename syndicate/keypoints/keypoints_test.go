package keypoints

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/neurosnap/sentences"
)

func TestStripDateline(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Madison, Wisconsin (CNN) -- Governor Scott Walker signed the bill.", "Governor Scott Walker signed the bill."},
		{"(CNN)Share, and your gift will be multiplied.", "Share, and your gift will be multiplied."},
		{"WASHINGTON (CNN) -- As he awaits a report, the president spoke.", "As he awaits a report, the president spoke."},
		{"(AFP) - The ministry said on Monday.", "The ministry said on Monday."},
		{"LONDON -- Shares fell sharply on Monday.", "Shares fell sharply on Monday."},
		{"-- The vote was close.", "The vote was close."},
		{"The council (CNN) met today.", "The council (CNN) met today."},
		{"No dateline here at all.", "No dateline here at all."},
	}
	for _, tt := range tests {
		if got := StripDateline(tt.in); got != tt.want {
			t.Errorf("StripDateline(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSentences(t *testing.T) {
	tests := []struct {
		name, lang, text string
		want             []string
	}{
		{"abbreviations", "en", "Mr. Smith went to Washington at 5 p.m. on Monday. The U.S. Senate voted.",
			[]string{"Mr. Smith went to Washington at 5 p.m. on Monday.", "The U.S. Senate voted."}},
		{"quotes stay with their sentence", "en", `"We won," she said. It was late.`,
			[]string{`"We won," she said.`, "It was late."}},
		{"Japanese", "ja", "東京で地震がありました。被害はありません！本当ですか？",
			[]string{"東京で地震がありました。", "被害はありません！", "本当ですか？"}},
		{"German by punctuation", "de", "Der Rat hat entschieden. Die Stadt baut neu! Wann?",
			[]string{"Der Rat hat entschieden.", "Die Stadt baut neu!", "Wann?"}},
		{"empty", "en", "  ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sentences(tt.text, tt.lang)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("Sentences = %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestUsable(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"The council approved the budget on Friday morning.", true},
		{"Too short to say much.", false},
		{`"It is a good day for the city," the mayor said.`, true},
		{`the rest of it," he added after the vote on Friday.`, false},
		{`He said "we will not stop until the work is done.`, false},
		{"Photo: The mayor speaks at the opening of the library on Friday.", false},
		{"The mayor speaks at the opening of the library. AFP / Asif HASSAN", false},
		{"Will the council approve the budget on Friday morning?", false},
	}
	for _, tt := range tests {
		if got := Usable(tt.s); got != tt.want {
			t.Errorf("Usable(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

const story = `Madison, Wisconsin (CNN) -- The city council approved a new budget on Friday after a debate that lasted all night.
Hmm.
"We did it," said one member of the council after the vote.
Spending on buses rises by 11 percent, paid for by a congestion charge on cars in the old town.
The mayor said the charge would raise 40 million a year for the city's transport.
Opposition members called the charge a tax on commuters and said they would go to court.
The libraries keep their Sunday hours after a petition signed by 12,000 residents of the city.`

func TestExtract(t *testing.T) {
	got := Extract([]string{story}, Options{Count: 3})
	if len(got) != 3 {
		t.Fatalf("got %d points: %q", len(got), got)
	}
	if !strings.HasPrefix(got[0], "The city council approved") {
		t.Errorf("first point %q: want the dateline stripped lead", got[0])
	}
	for _, p := range got {
		if p == "Hmm." {
			t.Errorf("picked a sentence under 6 words: %q", p)
		}
	}
	// In the article's order.
	idx := func(s string) int { return strings.Index(story, s) }
	for i := 1; i < len(got); i++ {
		if idx(got[i-1]) > idx(got[i]) {
			t.Errorf("points out of order: %q", got)
		}
	}
}

func TestExtract_ShortAndOneSentence(t *testing.T) {
	if got := Extract(nil, Options{}); got != nil {
		t.Errorf("no text: %q", got)
	}
	if got := Extract([]string{"Too short."}, Options{}); got != nil {
		t.Errorf("nothing usable: %q", got)
	}
	one := "The harbour library reopened on Saturday after a two-year renovation."
	if got := Extract([]string{one}, Options{Count: 3}); len(got) != 1 || got[0] != one {
		t.Errorf("one sentence: %q", got)
	}
}

func TestExtract_Deterministic(t *testing.T) {
	first := strings.Join(Extract([]string{story}, Options{}), "|")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if got := strings.Join(Extract([]string{story}, Options{}), "|"); got != first {
					t.Errorf("run %d differs: %q", j, got)
				}
			}
		}()
	}
	wg.Wait()
}

func TestExtract_RedundancyRemoved(t *testing.T) {
	text := "The council approved the city budget on Friday morning after a long debate. " +
		"On Friday morning the council approved the city budget after a long debate. " +
		"Libraries keep their Sunday hours after a petition from thousands of residents."
	got := Extract([]string{text}, Options{Count: 2})
	if len(got) != 2 || !strings.HasPrefix(got[1], "Libraries") {
		t.Errorf("got %q: the near-copy should have been skipped", got)
	}
}

func TestSentences_AfterAYear(t *testing.T) {
	got := Sentences("The roof was damaged in 2024. The renovation cost 6.2 million. He came No. 1 in the race.", "en")
	want := []string{"The roof was damaged in 2024.", "The renovation cost 6.2 million.", "He came No. 1 in the race."}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Sentences = %q\nwant %q", got, want)
	}
}

func TestNew(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatalf("New: %v (the built-in English model does not load: a broken build)", err)
	}
	got, want := strings.Join(e.Extract([]string{story}, Options{}), "|"), strings.Join(Extract([]string{story}, Options{}), "|")
	if got != want {
		t.Errorf("Extractor.Extract = %q, Extract = %q", got, want)
	}
}

// TestNew_ModelError checks a model that does not load is New's error,
// not a quiet switch to punctuation splitting.
func TestNew_ModelError(t *testing.T) {
	saved := englishModel
	defer func() { englishModel = saved }()
	broken := errors.New("Asset data/english.json not found")
	englishModel = func() (*sentences.DefaultSentenceTokenizer, error) { return nil, broken }
	e, err := New()
	if !errors.Is(err, broken) || e != nil {
		t.Errorf("New() = %v, %v; want the model's error", e, err)
	}
}
