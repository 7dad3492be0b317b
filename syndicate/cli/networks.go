package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/bluesky"
	"github.com/syndicate-bot/syndicate/syndicate/mastodon"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
)

// The networks threads go to are the config's (Config.Networks): Mastodon
// when the file has a mastodon section or no bluesky one, Bluesky when it
// has a bluesky section. This file wires each to its outlet and says what
// the commands print of it.

// networks are the networks a command works on: the config's, or the one
// --network names.
func (a *app) networks() []string {
	if a.network != "" {
		return []string{a.network}
	}
	return a.cfg.Networks()
}

// chooseNetwork checks a --network flag's value against the config.
func (a *app) chooseNetwork(cmd, name string) error {
	if name == "" {
		return nil
	}
	if !slices.Contains(a.cfg.Networks(), name) {
		return usageError("%s --network %q: threads go to %s (a network is on when config.yaml has its section)",
			cmd, name, strings.Join(a.cfg.Networks(), " and "))
	}
	a.network = name
	return nil
}

// networkName is a network's name as a person reads it.
func networkName(network string) string {
	switch network {
	case syndicate.NetworkMastodon:
		return "Mastodon"
	case syndicate.NetworkBluesky:
		return "Bluesky"
	}
	return network
}

// lengthUnit is what a network's length limit counts, as printed.
func lengthUnit(network string) string {
	if network == syndicate.NetworkBluesky {
		return "graphemes" // and 3,000 bytes, in the counting
	}
	return "characters"
}

// outlet is the live outlet of a network, made once per process: the
// daemon's ticks share it (a Bluesky session is kept, not made anew each
// tick: a PDS allows 30 logins in 5 minutes).
func (a *app) outlet(network string) (syndicate.Outlet, error) {
	if o, ok := a.outlets[network]; ok {
		return o, nil
	}
	var o syndicate.Outlet
	switch network {
	case syndicate.NetworkMastodon:
		m := a.cfg.Mastodon
		o = mastodon.New(mastodon.Options{
			Server: m.Server, Token: m.AccessToken.Reveal(), Timeout: m.Timeout.D(), Retries: 4, Logger: a.log, Counting: m.Counting,
		})
	case syndicate.NetworkBluesky:
		b := a.cfg.Bluesky
		c, err := bluesky.New(bluesky.Options{
			Service: b.Service, Handle: b.Handle, AppPassword: b.AppPassword.Reveal(), Language: b.Language,
			Timeout: b.Timeout.D(), Retries: 4, Logger: a.log,
		})
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s:%d: %w", a.cfg.Path, max(1, a.cfg.Line("bluesky")), err)}
		}
		o = c
	default:
		return nil, fmt.Errorf("no outlet for the network %q", network)
	}
	if a.outlets == nil {
		a.outlets = map[string]syndicate.Outlet{}
	}
	a.outlets[network] = o
	return o, nil
}

// unauthorizedHint says which keys to check when a network refused the
// credentials.
func (a *app) unauthorizedHint(network string) string {
	if network == syndicate.NetworkBluesky {
		return fmt.Sprintf("Try: check bluesky.handle and bluesky.app_password (%s:%d): an app password is made in Bluesky's Settings → Privacy and security → App passwords",
			a.cfg.Path, max(1, a.cfg.Line("bluesky.app_password")))
	}
	return fmt.Sprintf("Try: check mastodon.access_token (%s:%d) and that the token has the scopes write:statuses write:media read:accounts read:statuses",
		a.cfg.Path, max(1, a.cfg.Line("mastodon.access_token")))
}

// dryRunLimits are the limits a dry run composes with on a network, which
// opens no connection. Bluesky's are its lexicon's. Mastodon's are what
// the last live run learned of the server (kept in the state), else
// Mastodon's defaults; mastodon.counting, when it forces a rule, and
// mastodon.max_characters, when set, win. The note says where the
// counting rule came from.
func (a *app) dryRunLimits(v view, network string) (lim syndicate.Limits, note string) {
	if network == syndicate.NetworkBluesky {
		lim = bluesky.DefaultLimits()
		return lim, thread.Counting(lim.Counting).Name() + ": the post lexicon's rule, the same on every PDS"
	}
	lim = syndicate.DefaultLimits()
	note = "no live run has met " + a.cfg.Mastodon.Server + " yet"
	if v.server != nil {
		lim = v.server.Limits
		note = fmt.Sprintf("the rule of %s %s, as last seen at %s on %s", orUnknown(lim.Software), lim.Version, a.cfg.Mastodon.Server, v.server.SeenAt.In(a.cfg.Location()).Format("2006-01-02 15:04 MST"))
	}
	if c := a.cfg.Mastodon.Counting; c != "" && c != "auto" {
		lim.Counting = c
		note = "mastodon.counting says so"
	}
	if a.cfg.Mastodon.MaxCharacters > 0 {
		lim.MaxCharacters = a.cfg.Mastodon.MaxCharacters
	}
	return lim, thread.Counting(lim.Counting).Name() + ": " + note
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown server"
	}
	return s
}
