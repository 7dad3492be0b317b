#!/usr/bin/env bash
# Installs PostgreSQL for the tests: Debian's `postgresql` package (PostgreSQL 15 on Debian 12).
#
# The package installs system-wide (/usr/lib/postgresql/15/bin), not into the peer cache root: the Go
# harness (syndicate/testpeer/postgres) looks there. Idempotent: when initdb and pg_ctl already exist
# under /usr/lib/postgresql/*/bin it prints what it found and returns at once.
#
# The tests never use a system cluster: each test binary runs its own throwaway cluster in a temp folder on a
# free port. Debian's post-install creates a cluster "15/main" on port 5432 and, on a machine with a running
# init system, starts it. When this script installs the package it stops every cluster that the install
# created and sets its start.conf to "manual" (it does not come back at boot; `pg_ctlcluster 15 main start`
# still works). Clusters that existed before are left alone.
set -euo pipefail

log() { printf 'postgres: %s\n' "$*"; }

find_bindir() { # the newest /usr/lib/postgresql/MAJOR/bin that has the programs the harness runs
	local d
	for d in /usr/lib/postgresql/*/bin; do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && [ -x "$d/psql" ]; then
			echo "$d"
		fi
	done | sort -t/ -k5,5n | tail -n1
}

clusters() { # "VERSION NAME" per line; nothing when postgresql-common is not installed
	if command -v pg_lsclusters >/dev/null 2>&1; then
		pg_lsclusters -h 2>/dev/null | awk '{print $1, $2}'
	fi
}

bindir=$(find_bindir)
if [ -n "$bindir" ]; then
	log "found $("$bindir/postgres" --version) in $bindir; nothing to do"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	log "initdb/pg_ctl not found under /usr/lib/postgresql/*/bin and not root: run as root (apt-get install postgresql)" >&2
	exit 1
fi

start=$(date +%s)
before=$(clusters)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
export DEBIAN_FRONTEND=noninteractive

log "apt-get update"
if ! apt-get -q -o DPkg::Lock::Timeout=300 update >"$out" 2>&1; then
	cat "$out" >&2
	log "apt-get update failed" >&2
	exit 1
fi

log "apt-get install postgresql (Debian's PostgreSQL, no recommends)"
if ! apt-get -q -y -o DPkg::Lock::Timeout=300 install --no-install-recommends postgresql >"$out" 2>&1; then
	cat "$out" >&2
	log "apt-get install postgresql failed" >&2
	exit 1
fi

# Quiet the clusters the post-install created (normally 15/main on port 5432).
after=$(clusters)
while read -r ver name; do
	[ -n "$ver" ] || continue
	if grep -qx "$ver $name" <<<"$before"; then
		continue
	fi
	status=$(pg_lsclusters -h "$ver" "$name" 2>/dev/null | awk '{print $4}')
	if [ "$status" = online ]; then
		log "stopping system cluster $ver/$name (the tests start their own clusters)"
		pg_ctlcluster "$ver" "$name" stop
	fi
	conf=/etc/postgresql/$ver/$name/start.conf
	if [ -f "$conf" ] && ! grep -qx manual "$conf"; then
		log "setting $conf to manual (no start at boot)"
		sed -i -E 's/^(auto|manual|disabled)$/manual/' "$conf"
	fi
done <<<"$after"

bindir=$(find_bindir)
if [ -z "$bindir" ]; then
	log "installed postgresql but found no initdb/pg_ctl under /usr/lib/postgresql/*/bin" >&2
	exit 1
fi
log "installed $("$bindir/postgres" --version) in $bindir ($(($(date +%s) - start)) s)"
