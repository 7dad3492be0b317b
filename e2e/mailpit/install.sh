#!/usr/bin/env bash
# Installs Mailpit (a real SMTP server with a REST API, used by the e2e
# tests) into the peers cache:
#
#   ${SYNDICATE_PEERS_DIR:-$HOME/.cache/syndicate-peers}/mailpit-v1.33.1/mailpit
#
# It is built from source with `go install` through the Go module proxy,
# nothing else is downloaded. Idempotent: a good install in the cache is
# kept and the script returns at once.
set -euo pipefail

VERSION=v1.33.1
MODULE=github.com/axllent/mailpit
ROOT="${SYNDICATE_PEERS_DIR:-$HOME/.cache/syndicate-peers}"
DIR="$ROOT/mailpit-$VERSION"
BIN="$DIR/mailpit"

# good reports whether $1 is a working mailpit of this version.
# `version --no-release-check` never goes online.
good() {
	[ -x "$1" ] && "$1" version --no-release-check 2>/dev/null | grep -q " $VERSION compiled with "
}

if good "$BIN"; then
	echo "mailpit $VERSION: already installed at $BIN"
	exit 0
fi

command -v go >/dev/null || { echo "mailpit: go is not on PATH" >&2; exit 1; }
echo "mailpit $VERSION: building with $(go version) into $DIR"
mkdir -p "$DIR"
stage="$(mktemp -d "$DIR/.stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

start=$(date +%s)
# Run outside any module so the caller's go.mod plays no part; never
# fetch another toolchain; stamp the version the way mailpit's release
# builds do (a plain go install reports "dev").
(
	cd "$stage"
	GOBIN="$stage" GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
		go install -ldflags "-s -w -X $MODULE/config.Version=$VERSION" "$MODULE@$VERSION"
)
good "$stage/mailpit" || { echo "mailpit: the built binary does not report $VERSION" >&2; exit 1; }
mv -f "$stage/mailpit" "$BIN"
echo "mailpit $VERSION: installed $BIN in $(( $(date +%s) - start )) s"
