package thread

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// Defang keeps the mentions in text from notifying anyone: a zero-width
// space goes after the "@" of every "@user" or "@user@domain" that
// Mastodon would link (an "@" not preceded by a letter, digit, "_", "="
// or "/", followed by a username character). The text reads the same; a
// URL ("…/@user/…") and an address ("bob@example.org") are untouched.
//
// A feed's item is written by whoever writes the feed, not by the
// operator: its text must not make the bot's account ping strangers.
func Defang(text string) string {
	if !strings.Contains(text, "@") {
		return text
	}
	var b strings.Builder
	b.Grow(len(text) + 8)
	prev := rune(' ')
	for i, r := range text {
		b.WriteRune(r)
		if r == '@' && !mentionBlocked(prev) {
			next, _ := utf8.DecodeRuneInString(text[i+1:])
			if next == '_' || next < utf8.RuneSelf && (unicode.IsLetter(next) || unicode.IsDigit(next)) {
				b.WriteString("\u200b")
			}
		}
		prev = r
	}
	return b.String()
}

func mentionBlocked(prev rune) bool {
	return prev == '_' || prev == '=' || prev == '/' || unicode.IsLetter(prev) || unicode.IsDigit(prev) || unicode.IsMark(prev)
}

// defanged is the article as posted when its mentions must not notify
// (a feed's item): title and key points defanged.
func defanged(a *syndicate.Article) *syndicate.Article {
	if !a.FromFeed() {
		return a
	}
	c := *a
	c.Title = Defang(a.Title)
	c.KeyPoints = make([]string, len(a.KeyPoints))
	for i, k := range a.KeyPoints {
		c.KeyPoints[i] = Defang(k)
	}
	return &c
}
