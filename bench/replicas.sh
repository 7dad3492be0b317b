#!/usr/bin/env bash
# The digest from one `syndicate run` replica against two sharing it, on one
# PostgreSQL database (a throwaway cluster the test harness starts).
#
#   bench/replicas.sh [readers] [rounds]
#
# Defaults: 10000 readers, 3 rounds each. The reference is the same digest
# from one daemon on a SQLite state. Mails through Postfix's smtp-sink
# (unpacked from Debian's package as bench/digest-load.sh does; nothing is
# installed) and prints msg/s for one replica and for two, the time from
# the signal to "digest done" (the reader list's preparation included), and
# their ratio. On one machine the replicas share its cores: the ratio says
# what sharing costs or gains here, not what two machines would do.
set -euo pipefail
readers=${1:-10000}
rounds=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bench/out"
mkdir -p "$out"
pf="$out/postfix"
if [ ! -x "$pf/usr/sbin/smtp-sink" ]; then
  echo "fetching Debian's postfix package for smtp-sink" >&2
  (cd "$out" && rm -f postfix_*.deb && { apt-get download postfix >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download postfix >/dev/null; }; } && dpkg -x postfix_*.deb "$pf")
fi
export LD_LIBRARY_PATH="$pf/usr/lib/postfix"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$pf/usr/sbin/smtp-sink" -u "$(id -un)" 127.0.0.1:"$port" 256 &
sink=$!
trap 'kill $sink 2>/dev/null || true' EXIT
sleep 0.5
cd "$root"
SYNDICATE_BENCH_SINK=127.0.0.1:$port SYNDICATE_BENCH_READERS=$readers \
  go test -run='^$' -bench='Replicas_Digest' -benchtime="${rounds}x" -timeout=60m ./cmd/syndicate/ | tee "$out/replicas.txt"
awk '
  /\/sqlite/ { for (i = 1; i <= NF; i++) if ($(i+1) == "msg/s") lite = $i }
  /replicas=1/ { for (i = 1; i <= NF; i++) if ($(i+1) == "msg/s") one = $i }
  /replicas=2/ { for (i = 1; i <= NF; i++) if ($(i+1) == "msg/s") two = $i }
  END {
    if (one == "" || two == "") { print "no figures: see above"; exit 1 }
    printf "SQLite, one daemon: %.0f msg/s (the reference)\n", lite
    printf "PostgreSQL, one replica: %.0f msg/s (%.2f of SQLite); two replicas: %.0f msg/s (%.2f of one)\n", one, one / lite, two, two / one
  }' "$out/replicas.txt"
