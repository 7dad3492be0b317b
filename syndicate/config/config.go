// Package config loads config.yaml once at start: ${VAR} expansion from
// the environment, defaults, strict keys (a typo is an error, not a silent
// default) and Validate, whose every error names the key and file:line.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/feed"
	"github.com/syndicate-bot/syndicate/syndicate/files"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
)

// Secret is a string that never prints: tokens and passwords are kept in
// Secrets so a log line, an error or a dry-run dump cannot show them.
type Secret string

func (Secret) String() string { return "[redacted]" }

// GoString keeps %#v from showing a secret.
func (Secret) GoString() string { return "[redacted]" }

// MarshalText keeps JSON and YAML encoders from showing a secret.
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Reveal returns the secret itself, for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

// Config is the whole of config.yaml.
type Config struct {
	ArticlesDir string `yaml:"articles_dir"`
	// MediaDirs are folders besides articles_dir that pictures may come
	// from (a static site's static/images); nowhere else is read.
	MediaDirs []string `yaml:"media_dirs"`
	// ArticlesSettle: in the daemon, a file changed more recently than
	// this waits for the next tick (it may be half written).
	ArticlesSettle Duration  `yaml:"articles_settle"`
	BaseURL        string    `yaml:"base_url"`
	State          string    `yaml:"state"`
	TemplatesDir   string    `yaml:"templates_dir"`
	Mastodon       Mastodon  `yaml:"mastodon"`
	Bluesky        Bluesky   `yaml:"bluesky"`
	Email          Email     `yaml:"email"`
	Schedule       Schedule  `yaml:"schedule"`
	HTTP           HTTP      `yaml:"http"`
	KeyPoints      KeyPoints `yaml:"keypoints"`
	// Feeds are the RSS, Atom and JSON feeds whose items are articles
	// beside the folder's (see package feed and package source).
	Feeds []Feed `yaml:"feeds"`

	// Path is the file the config was read from.
	Path string `yaml:"-"`
	// lines maps a dotted key ("mastodon.visibility") to its line.
	lines map[string]int
	// fromEnv names, per key, the variables its value came from: such a
	// value is never echoed.
	fromEnv map[string][]string
	// envValues are the values ${VAR} expanded to, by value, scrubbed from
	// every error message as a last guard. Held in a closure so that no
	// printing of a Config can reach them.
	envValues func() map[string]string
}

// Feed is one entry of the feeds list.
type Feed struct {
	URL  string   `yaml:"url"`
	Name string   `yaml:"name"` // the ID prefix; "" is the URL's host
	Tags []string `yaml:"tags"` // added to the hashtags of its items
	Lang string   `yaml:"lang"` // when the feed says none
	// Backfill is how many of the items already in the feed at its first
	// fetch go out; the others are recorded as done (adopted).
	Backfill int `yaml:"backfill"`
	// Every is how often the daemon fetches it; 0 is on each post tick.
	Every Duration `yaml:"every"`
}

// FeedConfig is the feed package's view of the entry.
func (f Feed) FeedConfig() feed.Config {
	return feed.Config{URL: f.URL, Name: f.Name, Tags: f.Tags, Lang: f.Lang}
}

// Mastodon is the mastodon section.
type Mastodon struct {
	Server          string   `yaml:"server"`
	AccessToken     Secret   `yaml:"access_token"`
	Visibility      string   `yaml:"visibility"`
	ReplyVisibility string   `yaml:"reply_visibility"`
	Language        string   `yaml:"language"`
	Hashtags        []string `yaml:"hashtags"`
	// Counting is how post length is counted: auto (the server's own
	// rule, from NodeInfo), mastodon, gotosocial, pleroma or strict.
	Counting string `yaml:"counting"`
	// MaxCharacters is the post limit; 0 asks the server.
	MaxCharacters int `yaml:"max_characters"`
	// OnDelete is what becomes of the threads (on every network) of an
	// article whose file leaves the folder: keep (the default) or delete,
	// as if it were retracted.
	OnDelete         string `yaml:"on_delete"`
	Numbering        bool   `yaml:"numbering"`
	MaxThreadsPerRun int    `yaml:"max_threads_per_run"`
	// MaxPostsPerThread refuses an article whose thread would be longer
	// (a 100 KB key point must not become 200 posts).
	MaxPostsPerThread int `yaml:"max_posts_per_thread"`
	// Timeout bounds every API call.
	Timeout Duration `yaml:"timeout"`
}

// Bluesky is the bluesky section. Threads go to Bluesky when the file has
// it (see Networks).
type Bluesky struct {
	// Service is the account's PDS.
	Service string `yaml:"service"`
	// Handle logs in (a handle, or the account's DID) with AppPassword.
	Handle      string `yaml:"handle"`
	AppPassword Secret `yaml:"app_password"`
	Language    string `yaml:"language"`
	// Hashtags are added to every head post.
	Hashtags         []string `yaml:"hashtags"`
	Numbering        bool     `yaml:"numbering"`
	MaxThreadsPerRun int      `yaml:"max_threads_per_run"`
	// MaxPostsPerThread refuses an article whose thread would be longer.
	MaxPostsPerThread int `yaml:"max_posts_per_thread"`
	// Timeout bounds every call to the PDS.
	Timeout Duration `yaml:"timeout"`
}

// Email is the email section.
type Email struct {
	From           string   `yaml:"from"`
	Subject        string   `yaml:"subject"`
	Subscribers    string   `yaml:"subscribers"`
	UnsubscribeURL string   `yaml:"unsubscribe_url"`
	ListID         string   `yaml:"list_id"`
	SMTP           SMTP     `yaml:"smtp"`
	DKIM           DKIM     `yaml:"dkim"`
	Retries        int      `yaml:"retries"`
	RetryBackoff   Duration `yaml:"retry_backoff"`
	// MaxArticles is how many articles a digest carries in full; the rest
	// get one line (and count as mailed).
	MaxArticles int `yaml:"max_articles"`
	// MediaBaseURL is where the articles folder's pictures are published:
	// a picture's path relative to the folder is appended to it.
	MediaBaseURL string `yaml:"media_base_url"`
	// Lease is how long a replica's claim on readers it is mailing (or on
	// preparing the reader list) holds when it stops renewing it: a
	// replica that dies leaves its readers to the others after this.
	Lease Duration `yaml:"lease"`
}

// SMTP is the relay the digest goes through.
type SMTP struct {
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	TLS      string `yaml:"tls"`
	// CAFile is a PEM file of the CAs the relay's certificate must chain
	// to, for a relay with a private CA; empty trusts the system's.
	CAFile      string   `yaml:"ca_file"`
	Connections int      `yaml:"connections"`
	Rate        float64  `yaml:"rate"`
	Timeout     Duration `yaml:"timeout"`
}

// DKIM signs the digest when Domain is set.
type DKIM struct {
	Domain         string `yaml:"domain"`
	Selector       string `yaml:"selector"`
	PrivateKeyFile string `yaml:"private_key_file"`
}

// Schedule is when the daemon runs each job.
type Schedule struct {
	Timezone    string   `yaml:"timezone"`
	Post        string   `yaml:"post"`
	Digest      string   `yaml:"digest"`
	CatchUp     bool     `yaml:"catch_up"`
	MaxLateness Duration `yaml:"max_lateness"`
	// RetryBackoff is the first wait before the daemon runs a job again
	// whose work was left unfinished (a relay down); it doubles to 15 min.
	RetryBackoff Duration `yaml:"retry_backoff"`
}

// HTTP is the unsubscribe, health and metrics listener.
type HTTP struct {
	Listen string `yaml:"listen"`
}

// KeyPoints configures extraction for articles without key points.
type KeyPoints struct {
	Count int `yaml:"count"`
}

// Duration is a time.Duration written as "30s" or "6h".
type Duration time.Duration

// D returns the duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Default returns the configuration used for every key a file leaves out.
func Default() Config {
	return Config{
		ArticlesDir:    "articles",
		ArticlesSettle: Duration(10 * time.Second),
		State:          "syndicate.db",
		TemplatesDir:   "templates",
		Mastodon: Mastodon{
			Visibility: "public", ReplyVisibility: "unlisted", Language: "en", Counting: "auto", OnDelete: "keep",
			Numbering: true, MaxThreadsPerRun: 1, MaxPostsPerThread: 25, Timeout: Duration(30 * time.Second),
		},
		Bluesky: Bluesky{
			Service: "https://bsky.social", Language: "en",
			Numbering: true, MaxThreadsPerRun: 1, MaxPostsPerThread: 25, Timeout: Duration(30 * time.Second),
		},
		Email: Email{
			Subject: "{{.ListName}}: {{(index .Articles 0).Title}}{{if .More}} and {{.More}} more{{end}}",
			SMTP:    SMTP{Port: 587, TLS: "starttls", Connections: 4, Timeout: Duration(30 * time.Second)},
			Retries: 3, RetryBackoff: Duration(2 * time.Second), MaxArticles: 25, Lease: Duration(2 * time.Minute),
		},
		Schedule: Schedule{Timezone: "UTC", Post: "*/30 * * * *", Digest: "0 7 * * 1", CatchUp: true, MaxLateness: Duration(6 * time.Hour),
			RetryBackoff: Duration(30 * time.Second)},
		KeyPoints: KeyPoints{Count: 3},
	}
}

// Error is a problem with one key of the config file.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Msg)
}

// Load reads, expands and validates the config at path. getenv supplies
// ${VAR} values (os.Getenv in the program, a map in tests).
func Load(path string, getenv func(string) string) (*Config, error) {
	data, err := files.ReadFile(path, 1<<20) // a regular file, never waited on
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := Parse(path, data, getenv)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

var (
	yamlLine = regexp.MustCompile(`line (\d+)`)
	langCode = regexp.MustCompile(`^[a-zA-Z]{2,3}([-_][A-Za-z0-9]{2,8})*$`)
)

// Parse decodes config text without validating it. Relative paths are
// made relative to the config file's folder.
func Parse(path string, data []byte, getenv func(string) string) (*Config, error) {
	cfg := Default()
	cfg.Path = path
	cfg.lines = map[string]int{}
	cfg.fromEnv = map[string][]string{}
	envValues := map[string]string{}
	cfg.envValues = func() map[string]string { return envValues }
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 1
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			fmt.Sscan(m[1], &line)
			msg = strings.TrimPrefix(strings.TrimSpace(yamlLine.ReplaceAllString(msg, "")), ": ")
		}
		return nil, &Error{File: path, Line: line, Msg: msg}
	}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		if root.Kind != yaml.MappingNode {
			return nil, &Error{File: path, Line: root.Line, Msg: "the config must be key: value lines"}
		}
		d := decoder{cfg: &cfg, getenv: getenv}
		if err := d.mapping(root, reflect.ValueOf(&cfg).Elem(), ""); err != nil {
			return nil, err
		}
	}
	dir := filepath.Dir(path)
	paths := []*string{&cfg.ArticlesDir, &cfg.TemplatesDir, &cfg.Email.Subscribers, &cfg.Email.DKIM.PrivateKeyFile, &cfg.Email.SMTP.CAFile}
	if !IsPostgres(cfg.State) {
		paths = append(paths, &cfg.State)
	}
	for i := range cfg.MediaDirs {
		paths = append(paths, &cfg.MediaDirs[i])
	}
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	return &cfg, nil
}

// decoder walks the YAML tree beside the Config struct, so every key is
// known, has a line, and a wrong type is reported without echoing a value.
type decoder struct {
	cfg    *Config
	getenv func(string) string
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, prefix string) error {
	if n.Kind != yaml.MappingNode {
		return &Error{File: d.cfg.Path, Line: n.Line, Key: strings.TrimSuffix(prefix, "."), Msg: "want a section of key: value lines"}
	}
	fields := map[string]reflect.Value{}
	var names []string
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("yaml")
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = v.Field(i)
		names = append(names, tag)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := prefix + k.Value
		f, ok := fields[k.Value]
		if !ok {
			return &Error{File: d.cfg.Path, Line: k.Line, Key: key, Msg: fmt.Sprintf("unknown key (known here: %s)", strings.Join(names, ", "))}
		}
		if seen[k.Value] {
			return &Error{File: d.cfg.Path, Line: k.Line, Key: key, Msg: "given twice"}
		}
		seen[k.Value] = true
		d.cfg.lines[key] = k.Line
		if err := d.value(val, f, key); err != nil {
			return err
		}
	}
	return nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

func (d *decoder) value(n *yaml.Node, v reflect.Value, key string) error {
	bad := func(want string) error {
		return &Error{File: d.cfg.Path, Line: n.Line, Key: key, Msg: "want " + want}
	}
	if v.Kind() == reflect.Struct {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil
		}
		return d.mapping(n, v, key+".")
	}
	if v.Kind() == reflect.Slice {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return bad("a list")
		}
		out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
		if v.Type().Elem().Kind() == reflect.Struct {
			// A list of sections (feeds): each entry's keys are named
			// "feeds[1].url", counted from 1 as people count.
			for i, item := range n.Content {
				elem := reflect.New(v.Type().Elem()).Elem()
				prefix := fmt.Sprintf("%s[%d]", key, i+1)
				d.cfg.lines[prefix] = item.Line
				if err := d.mapping(item, elem, prefix+"."); err != nil {
					return err
				}
				out = reflect.Append(out, elem)
			}
			v.Set(out)
			return nil
		}
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return &Error{File: d.cfg.Path, Line: item.Line, Key: key, Msg: "want a list of plain values"}
			}
			value := d.expand(item.Value, key)
			if err := d.plain(item, key, value); err != nil {
				return err
			}
			out = reflect.Append(out, reflect.ValueOf(value))
		}
		v.Set(out)
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return bad("a single value")
	}
	raw := n.Value
	if n.Tag == "!!null" {
		raw = ""
	}
	s := d.expand(raw, key)
	if err := d.plain(n, key, s); err != nil {
		return err
	}
	switch v.Interface().(type) {
	case Duration:
		if s == "" {
			v.SetInt(0)
			return nil
		}
		dur, err := time.ParseDuration(s)
		if err != nil || dur < 0 {
			return bad("a duration like 30s, 5m or 6h")
		}
		v.SetInt(int64(dur))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true", "yes", "on":
			v.SetBool(true)
		case "false", "no", "off":
			v.SetBool(false)
		default:
			return bad("true or false")
		}
	case reflect.Int:
		var i int
		if _, err := fmt.Sscan(s, &i); err != nil || fmt.Sprint(i) != strings.TrimPrefix(s, "+") {
			return bad("a whole number")
		}
		v.SetInt(int64(i))
	case reflect.Float64:
		var f float64
		if _, err := fmt.Sscan(s, &f); err != nil {
			return bad("a number")
		}
		v.SetFloat(f)
	default:
		return bad("a supported value")
	}
	return nil
}

// expand replaces ${VAR} and ${VAR:-default} with the environment's value.
func (d *decoder) expand(s, key string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	return envRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := envRef.FindStringSubmatch(ref)
		d.cfg.fromEnv[key] = append(d.cfg.fromEnv[key], m[1])
		v := d.getenv(m[1])
		if v == "" {
			v = m[2]
		}
		if v != "" {
			d.cfg.envValues()[v] = m[1]
		}
		return v
	})
}

// multiLine are the keys whose values may hold line breaks: templates,
// whose output is made one line where it must be.
var multiLine = map[string]bool{"email.subject": true}

// plain refuses a control character in a value: a line break in a value
// that reaches a mail header or a request would inject a header.
func (d *decoder) plain(n *yaml.Node, key, value string) error {
	for _, r := range value {
		if r == '\t' || (multiLine[key] && (r == '\n' || r == '\r')) {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return &Error{File: d.cfg.Path, Line: n.Line, Key: key, Msg: d.cfg.show(key, "") + " holds a line break or control character, which no value may"}
		}
	}
	return nil
}

// Line returns the line a key was set on, or 0 when the file left it out.
func (c *Config) Line(key string) int { return c.lines[key] }

// errorAt makes an error for a key; when the file does not set the key the
// error points at line 1 and says the value is the default.
func (c *Config) errorAt(key, format string, args ...any) *Error {
	line := c.lines[key]
	msg := fmt.Sprintf(format, args...)
	if i := strings.LastIndexByte(key, '.'); line == 0 && i > 0 && strings.HasSuffix(key[:i], "]") {
		line = c.lines[key[:i]] // a key left out of a list entry: the entry's line
	}
	if line == 0 {
		line = 1
		msg += " (not set in the file: this is the default)"
	}
	return &Error{File: c.Path, Line: line, Key: key, Msg: msg}
}

// show quotes a value for an error message unless it came from the
// environment, where it might be a secret: then it names the variable.
func (c *Config) show(key, value string) string {
	if vars := c.fromEnv[key]; len(vars) > 0 {
		return "the value from ${" + strings.Join(vars, "}, ${") + "}"
	}
	if value == "" {
		return "the value"
	}
	return fmt.Sprintf("%q", value)
}

// detail is ": " and a library's error about a value, or nothing when the
// value came from the environment: such errors often quote the value.
func (c *Config) detail(key string, err error) string {
	if len(c.fromEnv[key]) > 0 || err == nil {
		return ""
	}
	return ": " + err.Error()
}

// scrub removes every value that came from the environment from an error
// message: the last guard that no secret is ever echoed.
func (c *Config) scrub(e *Error) {
	if c.envValues == nil {
		return
	}
	for value, name := range c.envValues() {
		if len(value) >= 3 && strings.Contains(e.Msg, value) {
			e.Msg = strings.ReplaceAll(e.Msg, value, "[the value of ${"+name+"}]")
		}
	}
}

// Validate checks every value and returns all the problems, each naming
// its key and file:line.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) { errs = append(errs, c.errorAt(key, format, args...)) }
	oneOf := func(key, value string, allowed ...string) {
		for _, a := range allowed {
			if value == a {
				return
			}
		}
		add(key, "%s is not one of %s", c.show(key, value), strings.Join(allowed, ", "))
	}
	httpURL := func(key, value string, required bool) {
		if value == "" {
			if required {
				add(key, "is required")
			}
			return
		}
		u, err := url.Parse(value)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(key, "%s is not an http(s) URL", c.show(key, value))
		}
	}
	if c.ArticlesDir == "" {
		add("articles_dir", "is required")
	}
	if c.State == "" {
		add("state", "is required")
	}
	c.validateState(add)
	httpURL("base_url", c.BaseURL, false)

	for i, d := range c.MediaDirs {
		if d == "" {
			add("media_dirs", "entry %d is empty", i+1)
		}
	}
	if c.ArticlesSettle.D() > time.Hour {
		add("articles_settle", "%s is more than an hour: new articles would wait that long", c.ArticlesSettle.D())
	}

	m := c.Mastodon
	httpURL("mastodon.server", m.Server, false)
	// The access token goes to the server: never in clear, but to a
	// server on this machine (tests, a local proxy).
	if u, err := url.Parse(m.Server); err == nil && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		add("mastodon.server", "must be https: the access token would travel in clear (http is only for a server on this machine)")
	}
	visibilities := []string{"public", "unlisted", "private", "direct"}
	oneOf("mastodon.visibility", m.Visibility, visibilities...)
	oneOf("mastodon.reply_visibility", m.ReplyVisibility, visibilities...)
	countings := []string{"auto"}
	for _, c := range thread.Countings {
		countings = append(countings, string(c))
	}
	oneOf("mastodon.counting", m.Counting, countings...)
	oneOf("mastodon.on_delete", m.OnDelete, "keep", "delete")
	if m.MaxCharacters != 0 && m.MaxCharacters < 100 {
		add("mastodon.max_characters", "%d is too small: 0 (ask the server) or at least 100", m.MaxCharacters)
	}
	if m.MaxThreadsPerRun < 0 {
		add("mastodon.max_threads_per_run", "must be 0 (no cap) or more")
	}
	if m.MaxPostsPerThread < 1 {
		add("mastodon.max_posts_per_thread", "must be 1 or more")
	}
	if m.Timeout.D() <= 0 {
		add("mastodon.timeout", "must be more than 0")
	}
	if m.Language != "" && !langCode.MatchString(m.Language) {
		add("mastodon.language", "%s is not a language code like en or pt-BR", c.show("mastodon.language", m.Language))
	}

	c.validateBluesky(add)

	e := c.Email
	if e.From != "" {
		if _, err := mail.ParseAddress(e.From); err != nil {
			add("email.from", "%s is not an address like \"Daily Brief <brief@example.org>\"", c.show("email.from", e.From))
		}
	}
	if _, err := texttemplate.New("subject").Parse(e.Subject); err != nil {
		if len(c.fromEnv["email.subject"]) > 0 {
			add("email.subject", "%s is not a valid template", c.show("email.subject", ""))
		} else {
			add("email.subject", "not a valid template: %v", err)
		}
	}
	if e.ListID != "" && !listID.MatchString(e.ListID) {
		add("email.list_id", "%s is not a list ID like digest.example.org (letters, digits and . - _ only)", c.show("email.list_id", e.ListID))
	}
	if e.MaxArticles < 1 {
		add("email.max_articles", "must be 1 or more")
	}
	if e.UnsubscribeURL != "" {
		u, err := url.Parse(e.UnsubscribeURL)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			add("email.unsubscribe_url", "%s is not an https URL", c.show("email.unsubscribe_url", e.UnsubscribeURL))
		case u.Scheme == "http" && !isLoopback(u.Hostname()):
			add("email.unsubscribe_url", "must be https: mail providers ignore one-click unsubscribe over http (RFC 8058)")
		case strings.ContainsAny(u.Path, "{}"):
			// The endpoint is served at this path: braces would be a
			// pattern to net/http, not a path.
			add("email.unsubscribe_url", "%s: its path may not hold { or }", c.show("email.unsubscribe_url", e.UnsubscribeURL))
		}
	}
	if e.MediaBaseURL != "" {
		u, err := url.Parse(e.MediaBaseURL)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			add("email.media_base_url", "%s is not an https URL", c.show("email.media_base_url", e.MediaBaseURL))
		case u.Scheme == "http" && !isLoopback(u.Hostname()):
			add("email.media_base_url", "must be https: mail clients warn about or block pictures over http (http is only for a server on this machine)")
		case u.User != nil:
			add("email.media_base_url", "may not hold a user name or password: every reader would receive them")
		case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.ContainsAny(e.MediaBaseURL, " \"<>\\`"):
			add("email.media_base_url", "%s: want a plain base URL, without a ?query, #fragment, space, quote or angle bracket (a picture's path is appended to it)", c.show("email.media_base_url", e.MediaBaseURL))
		}
	}
	oneOf("email.smtp.tls", e.SMTP.TLS, "starttls", "tls", "none")
	if e.SMTP.Username != "" && e.SMTP.TLS == "none" && !isLoopback(e.SMTP.Host) {
		add("email.smtp.tls", "none with a username would send the password in clear: use starttls or tls (none is for a relay on localhost)")
	}
	if e.SMTP.Port < 1 || e.SMTP.Port > 65535 {
		add("email.smtp.port", "%d is not a port (1-65535)", e.SMTP.Port)
	}
	if e.SMTP.Connections < 1 || e.SMTP.Connections > 64 {
		add("email.smtp.connections", "%d: want 1 to 64", e.SMTP.Connections)
	}
	if e.SMTP.Rate < 0 {
		add("email.smtp.rate", "must be 0 (unlimited) or more")
	}
	if e.SMTP.Timeout.D() <= 0 {
		add("email.smtp.timeout", "must be more than 0")
	}
	if e.Retries < 0 {
		add("email.retries", "must be 0 or more")
	}
	if d := e.DKIM; d.Domain != "" || d.Selector != "" || d.PrivateKeyFile != "" {
		if d.Domain == "" || d.Selector == "" || d.PrivateKeyFile == "" {
			add("email.dkim", "needs domain, selector and private_key_file together")
		}
		if d.Domain != "" && !hostname.MatchString(d.Domain) {
			add("email.dkim.domain", "%s is not a domain name", c.show("email.dkim.domain", d.Domain))
		}
		if d.Selector != "" && !hostname.MatchString(d.Selector) {
			add("email.dkim.selector", "%s is not a selector (letters, digits, . and -)", c.show("email.dkim.selector", d.Selector))
		}
	}

	s := c.Schedule
	if _, err := time.LoadLocation(s.Timezone); err != nil || s.Timezone == "" {
		add("schedule.timezone", "%s is not an IANA time zone like UTC or Europe/Berlin", c.show("schedule.timezone", s.Timezone))
	}
	for _, kv := range [][2]string{{"schedule.post", s.Post}, {"schedule.digest", s.Digest}} {
		key, spec := kv[0], kv[1]
		if spec == "" {
			continue // the job is off
		}
		sched, err := cron.ParseStandard(spec)
		if err != nil {
			add(key, "%s is not a cron schedule (5 fields like \"*/30 * * * *\", or @hourly, @every 10m)%s", c.show(key, spec), c.detail(key, err))
			continue
		}
		// robfig/cron rounds "@every 0s", "@every 1ms" and negative
		// intervals up to a second: a job that would run every second
		// is a mistake, not a schedule. The ticks themselves are looked
		// at (not the spec's text: "CRON_TZ=UTC @every 1s" is one too).
		if gap, ok := shortestGap(sched); !ok {
			add(key, "%s never runs", c.show(key, spec))
		} else if gap < time.Minute {
			add(key, "%s runs more often than once a minute: use @every 1m or longer", c.show(key, spec))
		}
	}
	if s.MaxLateness.D() < 0 {
		add("schedule.max_lateness", "must be 0 or more")
	}
	if s.RetryBackoff.D() < time.Second {
		add("schedule.retry_backoff", "must be at least 1s")
	}
	if c.HTTP.Listen != "" && !validListen(c.HTTP.Listen) {
		add("http.listen", "%s is not host:port like 127.0.0.1:8080 or :8080 (a port from 1 to 65535)", c.show("http.listen", c.HTTP.Listen))
	}
	if c.KeyPoints.Count < 1 || c.KeyPoints.Count > 10 {
		add("keypoints.count", "%d: want 1 to 10", c.KeyPoints.Count)
	}
	names, urls := map[string]string{}, map[string]string{}
	for i, f := range c.Feeds {
		key := fmt.Sprintf("feeds[%d]", i+1)
		fc := f.FeedConfig()
		if f.URL == "" {
			add(key+".url", "is required")
			continue
		}
		if err := fc.Validate(); err != nil {
			add(key, "is not a usable feed%s", c.detail(key+".url", err))
			continue
		}
		name, _ := fc.FeedName()
		if other, dup := names[strings.ToLower(name)]; dup {
			add(key+".name", "%q is the name of %s too (feeds on one host need a name each): it prefixes every article ID", name, other)
		}
		names[strings.ToLower(name)] = key
		if other, dup := urls[f.URL]; dup {
			add(key+".url", "is %s's URL too", other)
		}
		urls[f.URL] = key
		if f.Backfill < 0 || f.Backfill > feed.MaxItems {
			add(key+".backfill", "%d: want 0 to %d items", f.Backfill, feed.MaxItems)
		}
		if e := f.Every.D(); e != 0 && e < time.Minute {
			add(key+".every", "%s is less than a minute: be kind to the feed's server", e)
		}
	}
	for _, e := range errs {
		var ce *Error
		if errors.As(e, &ce) {
			c.scrub(ce)
		}
	}
	sortErrors(errs)
	return errors.Join(errs...)
}

// validateBluesky checks the bluesky section (when the file has one).
func (c *Config) validateBluesky(add func(key, format string, args ...any)) {
	if !c.HasBluesky() {
		return
	}
	b := c.Bluesky
	if u, err := url.Parse(b.Service); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		add("bluesky.service", "%s is not the http(s) URL of a PDS, like https://bsky.social", c.show("bluesky.service", b.Service))
	} else if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		// The app password goes to the PDS: never in clear, but to one
		// on this machine (tests, a local proxy).
		add("bluesky.service", "must be https: the app password would travel in clear (http is only for a PDS on this machine)")
	}
	if b.Handle != "" && !blueskyHandle.MatchString(b.Handle) && !did.MatchString(b.Handle) {
		add("bluesky.handle", "%s is not a handle like newsroom.example.org or a DID like did:plc:…", c.show("bluesky.handle", b.Handle))
	}
	if b.Language != "" && !langCode.MatchString(b.Language) {
		add("bluesky.language", "%s is not a language code like en or pt-BR", c.show("bluesky.language", b.Language))
	}
	if b.MaxThreadsPerRun < 0 {
		add("bluesky.max_threads_per_run", "must be 0 (no cap) or more")
	}
	if b.MaxPostsPerThread < 1 {
		add("bluesky.max_posts_per_thread", "must be 1 or more")
	}
	if b.Timeout.D() <= 0 {
		add("bluesky.timeout", "must be more than 0")
	}
}

var (
	// blueskyHandle is a handle: a domain name of at least two labels,
	// the last not starting with a digit (atproto's handle syntax).
	blueskyHandle = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	did           = regexp.MustCompile(`^did:[a-z]+:[A-Za-z0-9._:%-]+$`)
)

// HasMastodon reports whether threads go to Mastodon: the file has a
// mastodon section, or no bluesky one (Mastodon is the default network).
func (c *Config) HasMastodon() bool { return c.lines["mastodon"] != 0 || !c.HasBluesky() }

// HasBluesky reports whether threads go to Bluesky: the file has a
// bluesky section.
func (c *Config) HasBluesky() bool { return c.lines["bluesky"] != 0 }

// Networks are the networks threads go to, in the order they are posted
// and shown: "mastodon", "bluesky" (syndicate.NetworkMastodon, …).
func (c *Config) Networks() []string {
	var out []string
	if c.HasMastodon() {
		out = append(out, syndicate.NetworkMastodon)
	}
	if c.HasBluesky() {
		out = append(out, syndicate.NetworkBluesky)
	}
	return out
}

// Language is the language of articles that set none: mastodon.language,
// or bluesky.language when threads go to Bluesky alone.
func (c *Config) Language() string {
	if !c.HasMastodon() {
		return c.Bluesky.Language
	}
	return c.Mastodon.Language
}

// shortestGap is the shortest time between the first few ticks of a
// schedule; ok is false when it never ticks.
func shortestGap(sched cron.Schedule) (time.Duration, bool) {
	t := sched.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if t.IsZero() {
		return 0, false
	}
	gap := time.Duration(1<<63 - 1)
	for i := 0; i < 4; i++ {
		next := sched.Next(t)
		if next.IsZero() {
			break
		}
		gap = min(gap, next.Sub(t))
		t = next
	}
	return gap, true
}

var (
	listID   = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$`)
	hostname = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)
)

// validListen reports an address net.Listen takes: an optional host (a
// name or an IP) and a port from 1 to 65535.
func validListen(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != port {
		return false
	}
	return host == "" || net.ParseIP(host) != nil || hostname.MatchString(host)
}

// A requirement is a key a live run needs, and its value.
type requirement struct {
	key   string
	empty bool
}

// RequirePosting reports the keys posting needs but the file leaves
// empty, for every network threads go to.
func (c *Config) RequirePosting() error {
	var errs []error
	for _, n := range c.Networks() {
		errs = append(errs, c.RequirePostingTo(n))
	}
	return errors.Join(errs...)
}

// RequirePostingTo is RequirePosting for one network.
func (c *Config) RequirePostingTo(network string) error {
	switch network {
	case syndicate.NetworkMastodon:
		return c.require(
			requirement{"mastodon.server", c.Mastodon.Server == ""},
			requirement{"mastodon.access_token", c.Mastodon.AccessToken == ""})
	case syndicate.NetworkBluesky:
		return c.require(
			requirement{"bluesky.handle", c.Bluesky.Handle == ""},
			requirement{"bluesky.app_password", c.Bluesky.AppPassword == ""})
	}
	return nil
}

// RequireMailing reports the keys mailing the digest needs but the file
// leaves empty.
func (c *Config) RequireMailing() error {
	return c.require(
		requirement{"email.from", c.Email.From == ""},
		requirement{"email.subscribers", c.Email.Subscribers == ""},
		requirement{"email.unsubscribe_url", c.Email.UnsubscribeURL == ""},
		requirement{"email.smtp.host", c.Email.SMTP.Host == ""},
	)
}

// RequireUnsubscribe reports the keys the one-click endpoint needs.
func (c *Config) RequireUnsubscribe() error {
	return c.require(
		requirement{"email.from", c.Email.From == ""},
		requirement{"email.unsubscribe_url", c.Email.UnsubscribeURL == ""},
	)
}

func (c *Config) require(reqs ...requirement) error {
	var errs []error
	for _, r := range reqs {
		if !r.empty {
			continue
		}
		hint := "is empty"
		if len(c.fromEnv[r.key]) > 0 {
			hint = "is empty: its environment variable ${" + strings.Join(c.fromEnv[r.key], "}, ${") + "} is not set"
		}
		errs = append(errs, c.errorAt(r.key, "%s", hint))
	}
	return errors.Join(errs...)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sortErrors(errs []error) {
	line := func(e error) int {
		var ce *Error
		if errors.As(e, &ce) {
			return ce.Line
		}
		return 0
	}
	sort.SliceStable(errs, func(i, j int) bool { return line(errs[i]) < line(errs[j]) })
}

// Location returns the schedule's time zone (validated by Load).
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.Schedule.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// SenderName is the display name of email.from, or the address.
func (c *Config) SenderName() string {
	a, err := mail.ParseAddress(c.Email.From)
	if err != nil {
		return "Digest"
	}
	if a.Name != "" {
		return a.Name
	}
	return a.Address
}
