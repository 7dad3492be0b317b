package keypoints

// The English sentence model: neurosnap/sentences' Punkt model trained on
// English, built the way the library builds it but faster. It is built
// once per process (keypoints.go: englishModel) and its error is New's.

import (
	"regexp"
	"strings"

	"github.com/neurosnap/sentences"
	"github.com/neurosnap/sentences/data"
	sentencesEnglish "github.com/neurosnap/sentences/english"
)

// newEnglishTokenizer builds what sentences/english.NewSentenceTokenizer
// builds, with two costs taken out (they were most of the time of key
// point extraction): the multi-period annotation runs only for tokens
// holding . ? or ! (for any other it changes nothing), and the non-punct
// test uses a regexp compiled once instead of at every call. A test checks
// the output is the library's on the whole evaluation corpus.
func newEnglishTokenizer() (*sentences.DefaultSentenceTokenizer, error) {
	b, err := data.Asset("data/english.json")
	if err != nil {
		return nil, err
	}
	training, err := sentences.LoadTraining(b)
	if err != nil {
		return nil, err
	}
	for _, abbr := range []string{"sgt", "gov", "no"} { // as the library adds
		training.AbbrevTypes.Add(abbr)
	}
	lang := sentences.NewPunctStrings()
	word := &wordTokenizer{WordTokenizer: sentencesEnglish.NewWordTokenizer(lang), nonPunct: regexp.MustCompile(lang.NonPunct())}
	annotations := sentences.NewAnnotations(training, lang, word)
	ortho := &sentences.OrthoContext{Storage: training, PunctStrings: lang, TokenType: word, TokenFirst: word}
	annotations = append(annotations, onlyPunctuated{&sentencesEnglish.MultiPunctWordAnnotation{
		Storage: training, TokenParser: word, TokenGrouper: &sentences.DefaultTokenGrouper{}, Ortho: ortho,
	}})
	return &sentences.DefaultSentenceTokenizer{Storage: training, PunctStrings: lang, WordTokenizer: word, Annotations: annotations}, nil
}

// wordTokenizer is the library's English word tokenizer with its
// non-punct regexp compiled once.
type wordTokenizer struct {
	*sentencesEnglish.WordTokenizer
	nonPunct *regexp.Regexp
}

func (w *wordTokenizer) IsNonPunct(t *sentences.Token) bool { return w.nonPunct.MatchString(w.Type(t)) }

// onlyPunctuated runs the multi-period annotation only where it can
// change something: on a token holding . ? or !.
type onlyPunctuated struct {
	inner *sentencesEnglish.MultiPunctWordAnnotation
}

func (o onlyPunctuated) Annotate(tokens []*sentences.Token) []*sentences.Token {
	for i := 0; i+1 < len(tokens); i++ {
		if strings.ContainsAny(tokens[i].Tok, ".?!") {
			o.inner.Annotate(tokens[i : i+2])
		}
	}
	return tokens
}
