package thread

import (
	"strings"
	"testing"
)

func TestLength(t *testing.T) {
	long := "https://example.org/" + strings.Repeat("a", 300)
	tests := []struct {
		name string
		cw   string
		text string
		want int
	}{
		{"plain ASCII", "", "hello world", 11},
		{"empty", "", "", 0},
		{"short URL counts 23", "", "http://a.co", 23},
		{"long URL counts 23", "", long, 23},
		{"URL with text around", "", "see https://example.org/x now", 4 + 23 + 4},
		{"trailing period outside the URL", "", "https://example.org/x.", 24},
		{"trailing comma, paren, bang, colon outside", "", "(https://example.org/x), https://e.org/y! https://e.org/z:", 1 + 23 + 2 + 1 + 23 + 2 + 23 + 1},
		{"balanced parens inside the URL", "", "https://en.wikipedia.org/wiki/Foo_(bar)", 23},
		{"query and fragment are part of it", "", "https://e.org/a?b=c&d=e#f", 23},
		{"scheme needed: a bare domain counts as written", "", "example.org/path", 16},
		{"letters before the scheme: not a URL", "", "xhttps://e.org", 14},
		{"two URLs", "", "https://a.org https://b.org", 23 + 1 + 23},
		{"remote mention counts as @user", "", "hi @alice@mastodon.social", 3 + 6},
		{"local mention counts as written", "", "hi @alice", 9},
		{"mention domain trailing dot outside", "", "@bob@example.org.", 4 + 1},
		{"email address is not a mention", "", "mail bob@example.org", 20},
		{"mention inside a URL is the URL", "", "https://e.org/@a@b.org", 23},
		{"flag is one", "", "🇵🇰", 1},
		{"two flags are two", "", "🇵🇰🇷🇺", 2},
		{"ZWJ family is one", "", "👨\u200d👩\u200d👧\u200d👦", 1},
		{"skin tone modifier joins", "", "👍🏽", 1},
		{"keycap", "", "1\ufe0f\u20e3", 1},
		{"CJK one each", "", "日本語のテキスト", 8},
		{"combining accent is one", "", "e\u0301", 1},
		{"CRLF is one", "", "a\r\nb", 3},
		{"content warning counts", "spoiler", "text", 11},
		{"content warning and URL", "cw", "https://e.org/" + strings.Repeat("x", 50), 2 + 23},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Length(tt.cw, tt.text, 23); got != tt.want {
				t.Errorf("Length(%q, %q) = %d, want %d", tt.cw, tt.text, got, tt.want)
			}
		})
	}
}

func TestLength_URLLengthFromServer(t *testing.T) {
	if got, want := Length("", "https://example.org/abc", 30), 30; got != want {
		t.Errorf("got %d, want %d", got, want)
	}
}

func TestHashtag(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Offshore Wind", "#OffshoreWind"},
		{"north-sea", "#NorthSea"},
		{"climate", "#climate"},
		{"#news", "#news"},
		{"São Paulo", "#SãoPaulo"},
		{"2024", ""},
		{"2024 election", "#2024Election"},
		{"  ", ""},
		{"C++", "#C"},
		{"snake_case", "#snake_case"},
	}
	for _, tt := range tests {
		if got := Hashtag(tt.in); got != tt.want {
			t.Errorf("Hashtag(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got, want := strings.Join(Hashtags([]string{"News", "news", "Offshore Wind", "offshore-wind"}), " "), "#News #OffshoreWind"; got != want {
		t.Errorf("Hashtags dedupe = %q, want %q", got, want)
	}
}

// FuzzLength: the counter never panics, gives the same answer twice, and
// without URLs or remote mentions counts exactly the grapheme clusters.
func FuzzLength(f *testing.F) {
	f.Add("see https://example.org/x, then @a@b.org!", 23)
	f.Add("🇵🇰 e\u0301 日本 xhttps://e.org", 5)
	f.Add("https://", 23)
	f.Fuzz(func(t *testing.T, text string, urlLen int) {
		if urlLen < 1 || urlLen > 100 {
			return
		}
		n := Length("", text, urlLen)
		if n < 0 || n != Length("", text, urlLen) {
			t.Fatalf("Length = %d", n)
		}
		if plain := graphemeCount(text); len(entities(text)) == 0 && n != plain {
			t.Fatalf("no entity, but %d != %d graphemes", n, plain)
		}
	})
}

// TestCounting_PerServer: the same post counted by each server's rule,
// as read from its source (Mastodon's StatusLengthValidator, GoToSocial's
// validateStatusContent, Pleroma's String.length), and strictly.
func TestCounting_PerServer(t *testing.T) {
	const long = "https://news.example.org/articles/a-long-slug-of-an-article-2026" // 64 characters
	tests := []struct {
		name, cw, text                        string
		mastodon, gotosocial, pleroma, strict int
	}{
		{"plain", "", "Hello world", 11, 11, 11, 11},
		{"a long URL", "", "Read " + long, 5 + 23, 5 + 64, 5 + 64, 69},
		{"a short URL", "", "see http://e.co", 4 + 23, 15, 15, 27},
		{"flags: 1 grapheme, 2 code points", "", "🇵🇰🇩🇪", 2, 4, 2, 4},
		{"family: 1 grapheme, 7 code points", "", "👨‍👩‍👧‍👦", 1, 7, 1, 7},
		{"combining accent", "", "e\u0301", 1, 2, 1, 2},
		{"remote mention", "", "hi @alice@mastodon.social", 9, 25, 25, 25},
		{"content warning counts", "CW", "text", 6, 6, 6, 6},
		{"CRLF is one grapheme, two code points", "", "a\r\nb", 3, 4, 3, 4},
	}
	for _, tt := range tests {
		for c, want := range map[Counting]int{CountMastodon: tt.mastodon, CountGoToSocial: tt.gotosocial, CountPleroma: tt.pleroma, CountStrict: tt.strict} {
			if got := c.Length(tt.cw, tt.text, 23); got != want {
				t.Errorf("%s: %s counts %d, want %d", tt.name, c, got, want)
			}
		}
	}
}

func TestCountingFor(t *testing.T) {
	for software, want := range map[string]Counting{
		"mastodon": CountMastodon, "Mastodon": CountMastodon, "hometown": CountMastodon, "glitchsoc": CountMastodon,
		"gotosocial": CountGoToSocial, "pleroma": CountPleroma, "akkoma": CountPleroma,
		"misskey": CountStrict, "firefish": CountStrict, "": CountStrict,
	} {
		if got := CountingFor(software); got != want {
			t.Errorf("CountingFor(%q) = %s, want %s", software, got, want)
		}
	}
}

// TestCounting_Bluesky: a URL counts as it is shown, shortened; the
// length is the larger of the graphemes and a tenth of the bytes.
func TestCounting_Bluesky(t *testing.T) {
	const long = "https://news.example.org/articles/a-long-slug-of-an-article-2026"
	tests := []struct {
		name, text string
		want       int
	}{
		{"plain", "Hello world", 11},
		{"a long URL shows 30 characters and an ellipsis", "Read " + long, 5 + 31},
		{"a short URL in full, without its scheme", "see https://e.co/x", 4 + 6},
		{"300 families: 300 graphemes but 7,500 bytes", strings.Repeat("👨‍👩‍👧‍👦", 300), 750},
	}
	for _, tt := range tests {
		if got := CountBluesky.Length("", tt.text, 23); got != tt.want {
			t.Errorf("%s: %d, want %d (shown as %q)", tt.name, got, tt.want, BlueskyText(tt.text))
		}
	}
}
