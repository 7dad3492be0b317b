package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func load(t *testing.T, yaml string, vars map[string]string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(path, env(vars))
}

func TestLoad_ShippedConfig(t *testing.T) {
	cfg, err := Load("../../config.yaml", env(nil))
	if err != nil {
		t.Fatalf("the shipped config must load with no secrets set: %v", err)
	}
	if got, want := cfg.Mastodon.MaxThreadsPerRun, 1; got != want {
		t.Errorf("max_threads_per_run = %d, want %d", got, want)
	}
	if !strings.HasSuffix(cfg.ArticlesDir, "articles") || !filepath.IsAbs(cfg.ArticlesDir) && !strings.HasPrefix(cfg.ArticlesDir, "../../") {
		t.Errorf("articles_dir = %q, want it relative to the config file", cfg.ArticlesDir)
	}
}

func TestLoad_DefaultsAndExpansion(t *testing.T) {
	cfg, err := load(t, "mastodon:\n  access_token: ${TOKEN}\n  server: ${SERVER:-https://m.example}\n", map[string]string{"TOKEN": "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Mastodon.AccessToken.Reveal(), "s3cret"; got != want {
		t.Errorf("token = %q, want %q", got, want)
	}
	if got, want := cfg.Mastodon.Server, "https://m.example"; got != want {
		t.Errorf("server = %q, want the ${VAR:-default}", got)
	}
	if !cfg.Mastodon.Numbering || cfg.Mastodon.Visibility != "public" || cfg.Email.SMTP.Connections != 4 || cfg.Schedule.MaxLateness.D() != 6*time.Hour {
		t.Errorf("defaults not applied: %+v", cfg.Mastodon)
	}
}

func TestLoad_Errors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"unknown top-level key", "articles_dir: a\nmastodn:\n  server: x\n", ":2: mastodn: unknown key"},
		{"unknown nested key", "mastodon:\n  visibilty: public\n", ":2: mastodon.visibilty: unknown key"},
		{"bad visibility", "mastodon:\n  visibility: everyone\n", `:2: mastodon.visibility: "everyone" is not one of public, unlisted, private, direct`},
		{"bad on_delete", "mastodon:\n  server: https://m.example\n  on_delete: remove\n", `:3: mastodon.on_delete: "remove" is not one of keep, delete`},
		{"int expected", "mastodon:\n  max_characters: lots\n", ":2: mastodon.max_characters: want a whole number"},
		{"too small a limit", "mastodon:\n  max_characters: 20\n", ":2: mastodon.max_characters: 20 is too small"},
		{"bad cron", "schedule:\n  post: every now and then\n", `:2: schedule.post: "every now and then" is not a cron schedule`},
		{"bad time zone", "schedule:\n  timezone: Mars/Olympus\n", ":2: schedule.timezone:"},
		{"bad tls", "email:\n  smtp:\n    tls: maybe\n", ":3: email.smtp.tls:"},
		{"http unsubscribe URL", "email:\n  unsubscribe_url: http://news.example.org/u\n", ":2: email.unsubscribe_url: must be https"},
		{"bad from", "email:\n  from: not an address\n", ":2: email.from:"},
		{"bad subject template", "email:\n  subject: \"{{.Oops\"\n", ":2: email.subject: not a valid template"},
		{"YAML syntax", "mastodon:\n  server: [x\n", "config.yaml:"},
		{"a list where a value goes", "base_url: [a, b]\n", ":1: base_url: want a single value"},
		{"bad duration", "mastodon:\n  timeout: soon\n", ":2: mastodon.timeout: want a duration"},
		{"key twice", "state: a\nstate: b\n", ":2: state: given twice"},
		{"bad listen", "http:\n  listen: nowhere\n", ":2: http.listen:"},
		{"password in clear", "email:\n  smtp:\n    host: mail.example.org\n    username: u\n    tls: none\n", ":5: email.smtp.tls: none with a username"},
		{"token in clear", "mastodon:\n  server: http://mastodon.example.com\n", ":2: mastodon.server: must be https"},
		{"line break in list_id", "email:\n  list_id: \"digest.example.org\\r\\nBcc: x@evil.example\"\n", ":2: email.list_id: the value holds a line break"},
		{"line break in from", "email:\n  from: \"Brief <b@example.org>\\nBcc: x@evil.example\"\n", ":2: email.from: the value holds a line break"},
		{"line break in a list", "mastodon:\n  hashtags: [\"a\\nb\"]\n", ":2: mastodon.hashtags: the value holds a line break"},
		{"bad list_id", "email:\n  list_id: \"<digest>\"\n", ":2: email.list_id: \"<digest>\" is not a list ID"},
		{"every 0s", "schedule:\n  post: \"@every 0s\"\n", ":2: schedule.post: \"@every 0s\" runs more often than once a minute"},
		{"every 1ms", "schedule:\n  digest: \"@every 1ms\"\n", ":2: schedule.digest: \"@every 1ms\" runs more often than once a minute"},
		{"every negative", "schedule:\n  post: \"@every -5m\"\n", ":2: schedule.post: \"@every -5m\""},
		{"every 59s", "schedule:\n  post: \"@every 59s\"\n", "runs more often than once a minute"},
		{"listen port too big", "http:\n  listen: 127.0.0.1:99999\n", ":2: http.listen:"},
		{"listen port not a number", "http:\n  listen: 127.0.0.1:http\n", ":2: http.listen:"},
		{"listen bad host", "http:\n  listen: \"bad host!:80\"\n", ":2: http.listen:"},
		{"no posts per thread", "mastodon:\n  max_posts_per_thread: 0\n", ":2: mastodon.max_posts_per_thread: must be 1 or more"},
		{"no articles per digest", "email:\n  max_articles: 0\n", ":2: email.max_articles: must be 1 or more"},
		{"feed without a URL", "feeds:\n  - name: news\n", ":2: feeds[1].url: is required"},
		{"feed not a list of sections", "feeds: [https://a.example/feed]\n", ":1: feeds[1]: want a section"},
		{"feed unknown key", "feeds:\n  - url: https://a.example/feed\n    titel: x\n", ":3: feeds[1].titel: unknown key"},
		{"feed with credentials", "feeds:\n  - url: https://u:p@a.example/feed\n", ":2: feeds[1]: is not a usable feed"},
		{"feed not http", "feeds:\n  - url: file:///etc/passwd\n", ":2: feeds[1]: is not a usable feed"},
		{"feed bad name", "feeds:\n  - url: https://a.example/feed\n    name: \"a b\"\n", ":2: feeds[1]: is not a usable feed"},
		{"two feeds one host", "feeds:\n  - url: https://a.example/one\n  - url: https://a.example/two\n", ":3: feeds[2].name: \"a.example\" is the name of feeds[1] too"},
		{"same feed twice", "feeds:\n  - {url: https://a.example/one, name: x}\n  - {url: https://a.example/one, name: y}\n", ":3: feeds[2].url: is feeds[1]'s URL too"},
		{"negative backfill", "feeds:\n  - url: https://a.example/one\n    backfill: -1\n", ":3: feeds[1].backfill: -1: want 0 to 1000"},
		{"feed every second", "feeds:\n  - url: https://a.example/one\n    every: 1s\n", ":3: feeds[1].every: 1s is less than a minute"},
		{"line break in a feed tag", "feeds:\n  - url: https://a.example/one\n    tags: [\"a\\nb\"]\n", ":3: feeds[1].tags: the value holds a line break"},
		{"braces in the unsubscribe path", "email:\n  unsubscribe_url: \"https://x.example/u/{x\"\n", ":2: email.unsubscribe_url: \"https://x.example/u/{x\": its path may not hold { or }"},
		{"unknown bluesky key", "bluesky:\n  handel: a.example\n", ":2: bluesky.handel: unknown key (known here: service, handle, app_password, language, hashtags, numbering, max_threads_per_run, max_posts_per_thread, timeout)"},
		{"bluesky service not a URL", "bluesky:\n  service: bsky.social\n", `:2: bluesky.service: "bsky.social" is not the http(s) URL of a PDS`},
		{"bluesky app password in clear", "bluesky:\n  service: http://pds.example.org\n", ":2: bluesky.service: must be https: the app password would travel in clear"},
		{"bluesky handle", "bluesky:\n  handle: \"@newsroom\"\n", `:2: bluesky.handle: "@newsroom" is not a handle like newsroom.example.org or a DID`},
		{"bluesky language", "bluesky:\n  language: english please\n", `:2: bluesky.language: "english please" is not a language code`},
		{"bluesky cap", "bluesky:\n  max_threads_per_run: -1\n", ":2: bluesky.max_threads_per_run: must be 0 (no cap) or more"},
		{"bluesky posts per thread", "bluesky:\n  max_posts_per_thread: 0\n", ":2: bluesky.max_posts_per_thread: must be 1 or more"},
		{"bluesky timeout", "bluesky:\n  timeout: 0s\n", ":2: bluesky.timeout: must be more than 0"},
		{"line break in a bluesky hashtag", "bluesky:\n  hashtags: [\"a\\nb\"]\n", ":2: bluesky.hashtags: the value holds a line break"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.yaml, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "config.yaml:") {
				t.Errorf("error = %q, want it to contain %q and the file", err, tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *config.Error", err)
			}
		})
	}
}

func TestLoad_Feeds(t *testing.T) {
	cfg, err := load(t, "feeds:\n  - url: https://news.example.org/feed.xml\n    name: newsroom\n    tags: [news]\n    lang: en\n    backfill: 2\n    every: 10m\n  - url: https://blog.example.net/atom\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(cfg.Feeds), 2; got != want {
		t.Fatalf("%d feeds, want %d", got, want)
	}
	f := cfg.Feeds[0]
	if f.URL != "https://news.example.org/feed.xml" || f.Name != "newsroom" || fmt.Sprint(f.Tags) != "[news]" || f.Lang != "en" || f.Backfill != 2 || f.Every.D() != 10*time.Minute {
		t.Errorf("feed 1 = %+v", f)
	}
	if name, _ := cfg.Feeds[1].FeedConfig().FeedName(); name != "blog.example.net" {
		t.Errorf("feed 2 is named %q, want its host", name)
	}
	if got, want := cfg.Line("feeds[2].url"), 8; got != want {
		t.Errorf("feeds[2].url on line %d, want %d", got, want)
	}
}

func TestLoad_AllProblemsAtOnce(t *testing.T) {
	_, err := load(t, "mastodon:\n  visibility: x\n  reply_visibility: y\n", nil)
	if err == nil || !strings.Contains(err.Error(), "mastodon.visibility") || !strings.Contains(err.Error(), "mastodon.reply_visibility") {
		t.Errorf("err = %v, want both keys", err)
	}
}

func TestSecrets_NeverShown(t *testing.T) {
	const secret = "tok-SUPERSECRET-123"
	cfg, err := load(t, "mastodon:\n  access_token: ${TOKEN}\nemail:\n  smtp:\n    password: ${PW}\n", map[string]string{"TOKEN": secret, "PW": secret})
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%v %+v %#v %s\n", cfg, cfg, cfg.Mastodon, cfg.Mastodon.AccessToken)
	b, _ := json.Marshal(cfg)
	sb.Write(b)
	slog.New(slog.NewTextHandler(&sb, nil)).Info("x", "cfg", cfg.Mastodon, "pw", cfg.Email.SMTP.Password)
	slog.New(slog.NewJSONHandler(&sb, nil)).Info("x", "cfg", cfg.Mastodon)
	if strings.Contains(sb.String(), secret) {
		t.Errorf("secret printed:\n%s", sb.String())
	}
	// A value from the environment is not echoed in a validation error.
	_, err = load(t, "schedule:\n  timezone: ${TZ_SECRET}\n", map[string]string{"TZ_SECRET": secret})
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("err = %v: want an error that does not show the value", err)
	}
	_, err = load(t, "email:\n  smtp:\n    port: ${PORT_SECRET}\n", map[string]string{"PORT_SECRET": secret})
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("err = %v: want an error that does not show the value", err)
	}
}

// TestSecrets_NeverEchoed: a value from ${VAR} is never part of an error,
// whichever check fails; the error names the key and the variable.
func TestSecrets_NeverEchoed(t *testing.T) {
	const secret = "tok-SUPERSECRET-123"
	tests := []struct{ name, yaml, want string }{
		{"cron", "schedule:\n  post: ${X}\n", ":2: schedule.post: the value from ${X} is not a cron schedule"},
		{"cron, part of the value", "schedule:\n  post: \"*/5 ${X} * * *\"\n", ":2: schedule.post: the value from ${X} is not a cron schedule"},
		{"subject template", "email:\n  subject: \"{{ ${X} }}\"\n", ":2: email.subject: the value from ${X} is not a valid template"},
		{"server", "mastodon:\n  server: ${X}\n", ":2: mastodon.server: the value from ${X} is not an http(s) URL"},
		{"from", "email:\n  from: ${X}\n", ":2: email.from: the value from ${X} is not an address"},
		{"list_id", "email:\n  list_id: ${X}\n", ":2: email.list_id: the value from ${X} is not a list ID"},
		{"listen", "http:\n  listen: ${X}\n", ":2: http.listen: the value from ${X} is not host:port"},
		{"line break", "email:\n  list_id: ${NL}\n", ":2: email.list_id: the value from ${NL} holds a line break"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.yaml, map[string]string{"X": secret, "NL": secret + "\r\nBcc: x@evil.example"})
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error echoes the secret: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want %q", err, tt.want)
			}
		})
	}
}

func TestLoad_LoopbackServersMayBeHTTP(t *testing.T) {
	for _, server := range []string{"http://127.0.0.1:3000", "http://localhost:8080", "http://[::1]:9", "https://mastodon.example"} {
		if _, err := load(t, "mastodon:\n  server: "+server+"\n", nil); err != nil {
			t.Errorf("%s: %v", server, err)
		}
	}
	for _, spec := range []string{"@every 1m", "@every 90s", "@hourly", "*/1 * * * *"} {
		if _, err := load(t, "schedule:\n  post: \""+spec+"\"\n", nil); err != nil {
			t.Errorf("%s: %v", spec, err)
		}
	}
}

func TestRequirePosting(t *testing.T) {
	cfg, err := load(t, "mastodon:\n  server: https://m.example\n  access_token: ${T}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.RequirePosting()
	if err == nil || !strings.Contains(err.Error(), ":3: mastodon.access_token: is empty: its environment variable ${T} is not set") {
		t.Errorf("err = %v", err)
	}
}

// TestNetworks: threads go to every network with a section; with none,
// to Mastodon (the dry runs compose for it, as they always did).
func TestNetworks(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string
		language   string
	}{
		{"neither", "state: s.db\n", "[mastodon]", "en"},
		{"mastodon", "mastodon:\n  server: https://m.example\n", "[mastodon]", "en"},
		{"bluesky alone", "bluesky:\n  handle: newsroom.example.org\n  language: pt-BR\n", "[bluesky]", "pt-BR"},
		{"both", "mastodon:\n  language: de\nbluesky:\n  language: fr\n", "[mastodon bluesky]", "de"},
		{"an empty bluesky section", "bluesky:\n", "[bluesky]", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := load(t, tt.yaml, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(cfg.Networks()); got != tt.want {
				t.Errorf("Networks = %s, want %s", got, tt.want)
			}
			if got := cfg.Language(); got != tt.language {
				t.Errorf("Language = %s, want %s", got, tt.language)
			}
		})
	}
	cfg, err := load(t, "bluesky:\n  handle: newsroom.example.org\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Bluesky
	if b.Service != "https://bsky.social" || b.Language != "en" || !b.Numbering || b.MaxThreadsPerRun != 1 || b.MaxPostsPerThread != 25 || b.Timeout.D() != 30*time.Second {
		t.Errorf("bluesky defaults = %+v", b)
	}
	for _, handle := range []string{"newsroom.bsky.social", "newsroom.test", "did:plc:z72i7hdynmk6r22z27h6tvur", "did:web:news.example.org"} {
		if _, err := load(t, "bluesky:\n  handle: "+handle+"\n", nil); err != nil {
			t.Errorf("handle %s: %v", handle, err)
		}
	}
}

// TestRequirePosting_Bluesky: a live run needs the handle and the app
// password of Bluesky when it posts there, and Mastodon's keys only when
// it posts there too.
func TestRequirePosting_Bluesky(t *testing.T) {
	const secret = "app-SECRET-pass-4242"
	cfg, err := load(t, "bluesky:\n  handle: newsroom.example.org\n  app_password: ${BLUESKY_APP_PASSWORD}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.RequirePosting()
	if err == nil || !strings.Contains(err.Error(), ":3: bluesky.app_password: is empty: its environment variable ${BLUESKY_APP_PASSWORD} is not set") || strings.Contains(err.Error(), "mastodon") {
		t.Errorf("err = %v", err)
	}
	cfg, err = load(t, "bluesky:\n  handle: newsroom.example.org\n  app_password: ${BLUESKY_APP_PASSWORD}\n", map[string]string{"BLUESKY_APP_PASSWORD": secret})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.RequirePosting(); err != nil {
		t.Errorf("bluesky alone, set: %v", err)
	}
	if got := cfg.Bluesky.AppPassword.Reveal(); got != secret {
		t.Errorf("app password = %q", got)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%v %+v %#v", cfg, cfg.Bluesky, cfg.Bluesky)
	b, _ := json.Marshal(cfg)
	sb.Write(b)
	slog.New(slog.NewTextHandler(&sb, nil)).Info("x", "bluesky", cfg.Bluesky)
	if strings.Contains(sb.String(), secret) {
		t.Errorf("the app password was printed:\n%s", sb.String())
	}
	cfg, err = load(t, "mastodon:\n  server: https://m.example\nbluesky:\n  app_password: x\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.RequirePosting()
	for _, key := range []string{"mastodon.access_token", "bluesky.handle"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("both networks: err = %v, want %s", err, key)
		}
	}
	if err := cfg.RequirePostingTo("bluesky"); err == nil || strings.Contains(err.Error(), "mastodon") {
		t.Errorf("RequirePostingTo(bluesky) = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	shipped, _ := os.ReadFile("../../config.yaml")
	f.Add(string(shipped))
	f.Add("mastodon:\n  max_characters: 12\n")
	f.Add("a: [\n")
	f.Add("email: {smtp: {port: x}}")
	f.Fuzz(func(t *testing.T, src string) {
		cfg, err := Parse("c.yaml", []byte(src), env(map[string]string{"X": "y"}))
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		_ = cfg.Validate()
	})
}
