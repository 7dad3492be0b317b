package syndicate

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is the program's version as the build recorded it: the module
// version (a tag, or "(devel)" for a build from a checkout) and the VCS
// revision and time, with "+dirty" when the checkout had changes.
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	var extra []string
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		extra = append(extra, "revision "+rev)
	}
	if at != "" {
		extra = append(extra, at)
	}
	extra = append(extra, runtime.Version())
	return v + " (" + strings.Join(extra, ", ") + ")"
}

// UserAgent is what syndicate calls itself to servers.
func UserAgent() string {
	v := "(devel)"
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		v = info.Main.Version
	}
	return "syndicate/" + v + " (key-points bot; +https://github.com/syndicate-bot/syndicate)"
}
