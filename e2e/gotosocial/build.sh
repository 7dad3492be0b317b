#!/bin/sh
# Build GoToSocial v0.18.3 for the end-to-end tests (syndicate/testpeer/gotosocial).
#
# Installs into ${SYNDICATE_PEERS_DIR:-$HOME/.cache/syndicate-peers}/gotosocial-v0.18.3/:
#   gotosocial          the server binary (static, no cgo)
#   web/template        the HTML templates (the OAuth sign-in page needs them)
#   web/assets          the static assets the templates link to
#   installed           stamp: version + checksum of the source module
#
# The source comes from the Go module proxy, pinned by the go.mod/go.sum beside this script.
# It takes about 8-10 minutes on 2 cores; when the cache already holds a good build, it
# returns at once. Safe to run concurrently (a lock file serialises runs).
set -eu

VERSION=v0.18.3
MODULE=github.com/superseriousbusiness/gotosocial
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${SYNDICATE_PEERS_DIR:-$HOME/.cache/syndicate-peers}
DEST=$ROOT/gotosocial-$VERSION
STAMP=$DEST/installed

# The stamp names the version and the module checksum from go.sum, so a changed pin rebuilds.
SUM=$(awk -v m="$MODULE" -v v="$VERSION" '$1 == m && $2 == v { print $3 }' "$HERE/go.sum")
if [ -z "$SUM" ]; then
	echo "build.sh: $HERE/go.sum has no entry for $MODULE $VERSION" >&2
	exit 1
fi
WANT="gotosocial $VERSION $SUM"

good() {
	[ -x "$DEST/gotosocial" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] &&
		[ -d "$DEST/web/template" ] && [ -d "$DEST/web/assets" ] &&
		"$DEST/gotosocial" --version 2>/dev/null | grep -q "$VERSION"
}

if good; then
	echo "gotosocial $VERSION: already installed in $DEST"
	exit 0
fi

mkdir -p "$DEST"
# Serialise concurrent runs (flock is in util-linux, present on Debian; skip the lock without it).
if [ -z "${GTS_BUILD_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
	export GTS_BUILD_LOCKED=1
	exec flock "$DEST/.lock" "$0" "$@"
fi
if good; then
	echo "gotosocial $VERSION: already installed in $DEST (by a concurrent run)"
	exit 0
fi

export GOWORK=off GOTOOLCHAIN=local GOFLAGS=-mod=mod
# The checksum database has no entry for this module; go.sum beside this script pins it instead.
export GONOSUMDB="$MODULE${GONOSUMDB:+,$GONOSUMDB}"

echo "gotosocial $VERSION: downloading the module source (go mod download)"
INFO=$(cd "$HERE" && go mod download -json "$MODULE")
MODDIR=$(printf '%s\n' "$INFO" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
if [ -z "$MODDIR" ] || [ ! -f "$MODDIR/go.mod" ]; then
	echo "build.sh: go mod download gave no module dir:" >&2
	printf '%s\n' "$INFO" >&2
	exit 1
fi

SRC=$DEST/src
echo "gotosocial $VERSION: copying $MODDIR to $SRC (without vendor/)"
rm -rf "$SRC"
mkdir -p "$SRC"
# The module cache is read-only; copy and make the copy writable.
cp -R "$MODDIR/." "$SRC/"
chmod -R u+w "$SRC"
rm -rf "$SRC/vendor"

echo "gotosocial $VERSION: building (go build; about 8-10 minutes on 2 cores)"
START=$(date +%s)
(
	cd "$SRC"
	CGO_ENABLED=0 go build -trimpath \
		-tags "netgo osusergo static_build kvformat timetzdata nootel" \
		-ldflags "-s -w -X main.Version=$VERSION" \
		-o "$DEST/gotosocial.new" ./cmd/gotosocial
)
echo "gotosocial $VERSION: built in $(($(date +%s) - START)) s"

echo "gotosocial $VERSION: installing the binary and web/template, web/assets into $DEST"
rm -rf "$DEST/web.new"
mkdir -p "$DEST/web.new"
cp -R "$SRC/web/template" "$SRC/web/assets" "$DEST/web.new/"
rm -rf "$DEST/web"
mv "$DEST/web.new" "$DEST/web"
mv "$DEST/gotosocial.new" "$DEST/gotosocial"
rm -rf "$SRC"
printf '%s\n' "$WANT" >"$STAMP"
"$DEST/gotosocial" --version
echo "gotosocial $VERSION: installed in $DEST"
