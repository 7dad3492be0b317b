// Package thread turns an article into the posts of a Mastodon thread:
// it counts length exactly as Mastodon does, splits key points that are
// too long at sentence and then word boundaries, makes hashtags valid and
// numbers the posts once the splitting is done.
package thread

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"

	"github.com/syndicate-bot/syndicate/syndicate/text"
)

// Mastodon's StatusLengthValidator counts the extended grapheme clusters of
// spoiler_text + text after rewriting every URL (with a scheme) to a fixed
// placeholder and every "@user@domain" mention to "@user". The entity rules
// follow the twitter-text regexes Mastodon patches in
// config/initializers/twitter_regex.rb.

// urlSchemes are the schemes Mastodon's URL extractor recognises.
var urlSchemes = []string{"https://", "http://", "dat://", "dweb://", "ipfs://", "ipns://", "ssb://", "gopher://", "gemini://"}

// entity is a span of text Mastodon counts specially.
type entity struct {
	start, end int    // byte offsets
	counted    string // what the span counts as; "" for a URL
	url        bool
}

// Length is the length Mastodon counts for a post with the given content
// warning (spoiler text) and text, URLs counting as urlLength.
func Length(contentWarning, text string, urlLength int) int {
	return graphemeCount(contentWarning + countable(text, urlLength))
}

// Counting is a server's rule for the length of a post. Servers that speak
// the Mastodon API count differently, and a post one accepts another
// refuses; each rule here is read from the server's source.
type Counting string

// The counting rules.
const (
	// CountMastodon: extended grapheme clusters of spoiler + text, every
	// URL as characters_reserved_per_url, "@user@domain" as "@user"
	// (Mastodon's StatusLengthValidator; glitch-soc, Hometown and the
	// other forks keep it).
	CountMastodon Counting = "mastodon"
	// CountGoToSocial: code points of text plus code points of spoiler,
	// URLs and mentions in full (GoToSocial's validateStatusContent:
	// len([]rune(status)) + len([]rune(spoiler))), although it reports
	// characters_reserved_per_url.
	CountGoToSocial Counting = "gotosocial"
	// CountPleroma: grapheme clusters (Elixir's String.length) of spoiler
	// and text, URLs and mentions in full (Pleroma and Akkoma).
	CountPleroma Counting = "pleroma"
	// CountStrict: the longest of the three, for a server not known.
	CountStrict Counting = "strict"
	// CountBluesky: a post shows each URL shortened (the link facet keeps
	// it whole), and the lexicon allows 300 graphemes and 3,000 bytes of
	// what it shows: the length is the larger of its graphemes and a
	// tenth of its bytes, so that at most 300 means both limits hold.
	CountBluesky Counting = "bluesky"
)

// Countings are the rules mastodon.counting may name, besides "auto".
var Countings = []Counting{CountMastodon, CountGoToSocial, CountPleroma, CountStrict}

// Length is the length this rule counts; an unknown rule counts strictly.
func (c Counting) Length(contentWarning, text string, urlLength int) int {
	switch c {
	case CountMastodon:
		return Length(contentWarning, text, urlLength)
	case CountGoToSocial:
		return utf8.RuneCountInString(text) + utf8.RuneCountInString(contentWarning)
	case CountPleroma:
		return graphemeCount(contentWarning + text)
	case CountBluesky:
		shown := BlueskyText(text)
		return max(graphemeCount(shown), (len(shown)+9)/10)
	}
	return max(Length(contentWarning, text, urlLength), utf8.RuneCountInString(text)+utf8.RuneCountInString(contentWarning), graphemeCount(contentWarning+text))
}

// BlueskyText is a post's text as Bluesky shows it: every URL shortened
// as text.ShortURL does (the link facet keeps the whole URL).
func BlueskyText(post string) string {
	ents := entities(post)
	if len(ents) == 0 {
		return post
	}
	var b strings.Builder
	last := 0
	for _, e := range ents {
		if !e.url {
			continue
		}
		b.WriteString(post[last:e.start])
		b.WriteString(text.ShortURL(post[e.start:e.end]))
		last = e.end
	}
	b.WriteString(post[last:])
	return b.String()
}

// Name is the rule as a person reads it.
func (c Counting) Name() string {
	switch c {
	case CountMastodon:
		return "as Mastodon counts (URLs as 23, graphemes)"
	case CountGoToSocial:
		return "as GoToSocial counts (code points, URLs in full)"
	case CountPleroma:
		return "as Pleroma and Akkoma count (graphemes, URLs in full)"
	case CountBluesky:
		return "as Bluesky counts (graphemes of the text shown, URLs shortened, and bytes)"
	}
	return "strictly (the longest of the Mastodon, GoToSocial and Pleroma counts)"
}

// CountingFor is the rule of a server by its NodeInfo software name; a
// server not known counts strictly.
func CountingFor(software string) Counting {
	switch strings.ToLower(strings.TrimSpace(software)) {
	case "mastodon", "glitchsoc", "glitch-soc", "hometown", "fedibird", "ecko", "kmyblue", "chuckya":
		return CountMastodon
	case "gotosocial":
		return CountGoToSocial
	case "pleroma", "akkoma":
		return CountPleroma
	}
	return CountStrict
}

// graphemeCount counts extended grapheme clusters; ASCII text, the common
// case, is counted without the Unicode segmentation tables (in ASCII only
// CR LF is a cluster of two).
func graphemeCount(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return uniseg.GraphemeClusterCount(s)
		}
	}
	return len(s) - strings.Count(s, "\r\n")
}

// countable rewrites text the way Mastodon does before counting.
func countable(text string, urlLength int) string {
	ents := entities(text)
	if len(ents) == 0 {
		return text
	}
	var b strings.Builder
	last := 0
	for _, e := range ents {
		b.WriteString(text[last:e.start])
		if e.url {
			b.WriteString(strings.Repeat("x", urlLength))
		} else {
			b.WriteString(e.counted)
		}
		last = e.end
	}
	b.WriteString(text[last:])
	return b.String()
}

// entities finds the URLs and remote mentions in text, in order and not
// overlapping: where two overlap the earlier one wins, as in Mastodon (a
// mention inside a URL is part of the URL). Only the places around "://"
// and "@" are examined, so plain text costs one scan.
func entities(text string) []entity {
	var out []entity
	for from := 0; ; {
		i := strings.Index(text[from:], "://")
		if i < 0 {
			break
		}
		i += from
		from = i + 3
		// Back up over the scheme's letters to where the URL would start:
		// no scheme is longer than "gopher" or "gemini".
		start := i
		for start > 0 && i-start < 8 && isASCIILetter(text[start-1]) {
			start--
		}
		for s := start; s < i; s++ {
			if e, ok := urlAt(text, s); ok {
				out = append(out, e)
				// A "://" inside this URL is part of it: go on after it,
				// so that a text of URLs in URLs is read once, not once
				// per "://" (quadratic, minutes for a large article).
				from = max(from, e.end)
				break
			}
		}
	}
	for from := 0; ; {
		i := strings.IndexByte(text[from:], '@')
		if i < 0 {
			break
		}
		i += from
		if e, ok := mentionAt(text, i); ok {
			out = append(out, e)
		}
		from = i + 1
	}
	if len(out) < 2 {
		return out
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	kept := out[:1]
	for _, e := range out[1:] {
		if e.start >= kept[len(kept)-1].end {
			kept = append(kept, e)
		}
	}
	return kept
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// urlAt reports the URL starting at byte i, if one does.
func urlAt(text string, i int) (entity, bool) {
	c := text[i]
	if c != 'h' && c != 'H' && c != 'd' && c != 'D' && c != 'i' && c != 'I' && c != 's' && c != 'S' && c != 'g' && c != 'G' {
		return entity{}, false
	}
	scheme := ""
	for _, s := range urlSchemes {
		if len(text)-i >= len(s) && strings.EqualFold(text[i:i+len(s)], s) {
			scheme = s
			break
		}
	}
	if scheme == "" {
		return entity{}, false
	}
	// The character before a URL may not be a letter, digit, @, $ or #.
	if i > 0 {
		r, _ := utf8.DecodeLastRuneInString(text[:i])
		if r == '@' || r == '＠' || r == '$' || r == '#' || r == '＃' || isASCIIAlnum(r) {
			return entity{}, false
		}
	}
	// The domain: at least one valid character.
	j := i + len(scheme)
	hostStart := j
	for j < len(text) {
		r, size := utf8.DecodeRuneInString(text[j:])
		if r == '.' || r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) {
			j += size
			continue
		}
		break
	}
	if j == hostStart || strings.Trim(text[hostStart:j], ".-_") == "" {
		return entity{}, false
	}
	// The rest runs to white space or a character no URL holds.
	for j < len(text) {
		r, size := utf8.DecodeRuneInString(text[j:])
		if unicode.IsSpace(r) || r == '<' || r == '>' || r == '"' || r == '\u200b' || r == utf8.RuneError {
			break
		}
		j += size
	}
	// Trailing punctuation is not part of the URL, nor an unbalanced ")".
	// The parentheses are counted once and updated as characters are
	// trimmed (counting them again for each would be quadratic).
	end := j
	opens, closes := strings.Count(text[i:end], "("), strings.Count(text[i:end], ")")
	for end > hostStart {
		r, size := utf8.DecodeLastRuneInString(text[:end])
		if r == ')' && opens >= closes {
			break
		}
		if isURLEnding(r) {
			break
		}
		switch r {
		case '(':
			opens--
		case ')':
			closes--
		}
		end -= size
	}
	host := strings.TrimRight(text[hostStart:min(end, j)], ".-_")
	if host == "" {
		return entity{}, false
	}
	return entity{start: i, end: end, url: true}, true
}

// isURLEnding reports whether a URL may end with r (twitter-text's
// valid_url_path_ending_chars, with the query ending characters).
func isURLEnding(r rune) bool {
	switch r {
	case '=', '_', '#', '/', '+', '-', '&':
		return true
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// mentionAt reports a remote mention "@user@domain" starting at byte i.
// Local mentions count as written, so only remote ones are entities.
func mentionAt(text string, i int) (entity, bool) {
	if text[i] != '@' {
		return entity{}, false
	}
	if i > 0 {
		r, _ := utf8.DecodeLastRuneInString(text[:i])
		if isASCIIAlnum(r) || strings.ContainsRune("_!#$%&*@＠", r) {
			return entity{}, false
		}
	}
	j := i + 1
	for j < len(text) && (isASCIIAlnumByte(text[j]) || text[j] == '_') {
		j++
	}
	if j == i+1 || j >= len(text) || text[j] != '@' {
		return entity{}, false
	}
	user := text[i:j]
	k := j + 1
	for k < len(text) && (isASCIIAlnumByte(text[k]) || text[k] == '.' || text[k] == '-') {
		k++
	}
	// The domain must end with a letter or digit.
	for k > j+1 && (text[k-1] == '.' || text[k-1] == '-') {
		k--
	}
	if k <= j+1 {
		return entity{}, false
	}
	return entity{start: i, end: k, counted: user}, true
}

func isASCIIAlnum(r rune) bool { return r < utf8.RuneSelf && isASCIIAlnumByte(byte(r)) }

func isASCIIAlnumByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Span is a URL, mention or hashtag in a post, for display.
type Span struct {
	Start, End int // byte offsets
	Kind       string
}

// Spans returns the URLs, remote mentions and hashtags of text in order,
// found by the same rules the counter uses.
func Spans(text string) []Span {
	var out []Span
	ents := entities(text)
	e := 0
	for i := 0; i < len(text); {
		if e < len(ents) && ents[e].start == i {
			kind := "mention"
			if ents[e].url {
				kind = "url"
			}
			out = append(out, Span{ents[e].start, ents[e].end, kind})
			i = ents[e].end
			e++
			continue
		}
		if text[i] == '#' && (i == 0 || text[i-1] == ' ' || text[i-1] == '\n') {
			j := i + 1
			for j < len(text) {
				r, size := utf8.DecodeRuneInString(text[j:])
				if !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || r == '_') {
					break
				}
				j += size
			}
			if j > i+1 {
				out = append(out, Span{i, j, "hashtag"})
				i = j
				continue
			}
		}
		_, size := utf8.DecodeRuneInString(text[i:])
		i += size
	}
	return out
}
