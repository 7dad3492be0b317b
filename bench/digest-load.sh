#!/usr/bin/env bash
# The digest fan-out against Postfix's reference load pair, on this machine.
#
#   bench/digest-load.sh [readers] [rounds] [connections...]
#
# Defaults: 10000 readers, 2 rounds, connections 1 2 4 8.
#
# Unpacks smtp-sink and smtp-source from Debian's postfix package (nothing
# is installed or started but these two programs), starts smtp-sink on
# 127.0.0.1, then alternates A B A B: smtp-source sending the digest's own
# .eml over N reused connections, and "syndicate digest" mailing the same
# digest to the same number of readers over N connections, ledger on (a
# fresh state each round: readers are fixed, every outcome recorded).
# Prints both rates and their ratio for each connection count (default
# 1 2 4 8), a PNG chart of them (docs/fanout.png), the peak RSS of a
# 100,000-reader send, the idle RSS of the daemon, and the 10,000-article
# compose benchmark.
set -euo pipefail
readers=${1:-10000}
rounds=${2:-2}
shift $(( $# > 2 ? 2 : $# )) || true
conns=("$@")
[ ${#conns[@]} -gt 0 ] || conns=(1 2 4 8)
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bench/out"
mkdir -p "$out"

# 1. Postfix's smtp-sink and smtp-source, unpacked, not installed.
pf="$out/postfix"
if [ ! -x "$pf/usr/sbin/smtp-sink" ]; then
  echo "fetching Debian's postfix package for smtp-sink and smtp-source" >&2
  (cd "$out" && rm -f postfix_*.deb && { apt-get download postfix >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download postfix >/dev/null; }; } && dpkg -x postfix_*.deb "$pf")
fi
export LD_LIBRARY_PATH="$pf/usr/lib/postfix"

# 2. The program.
(cd "$root" && go build -o "$out/syndicate" ./cmd/syndicate)
bin="$out/syndicate"

# 3. A workspace: seven articles make a digest of about 20 KB.
ws="$out/work"
rm -rf "$ws"; mkdir -p "$ws/articles"
for i in $(seq 1 7); do
  cat > "$ws/articles/story-$i.md" <<ART
---
title: Story $i of the day, with a headline of ordinary length for a newsroom
date: 2026-11-2${i: -1}T08:00:00Z
key_points:
  - The first key point of story $i says what happened, to whom and where, in a sentence of about two hundred characters as newsrooms write them.
  - The second key point of story $i gives the number that matters and compares it with last year's, because readers want to know whether it is more or less.
  - The third key point of story $i says what happens next, who decides and when, so that the reader knows what to watch for in the coming weeks and months.
image_alt: A photograph for story $i showing the people and the place the story is about, described for readers who cannot see it
credit: Agency / Photographer $i
---
Body of story $i.
ART
done
subscribers() { # $1 = count
  awk -v n="$1" 'BEGIN { print "email,name"; for (i = 0; i < n; i++) printf "reader%06d@example.org,Reader %d\n", i, i }' > "$ws/subscribers.csv"
}

port=$(( 20000 + RANDOM % 20000 ))
config() { # $1 = connections
  cat > "$ws/config.yaml" <<CFG
articles_dir: articles
base_url: https://news.example.org/articles/
state: state/syndicate.db
email:
  from: "Daily Brief <brief@example.org>"
  subscribers: subscribers.csv
  unsubscribe_url: https://news.example.org/unsubscribe
  smtp: {host: 127.0.0.1, port: $port, tls: none, connections: $1, timeout: 30s}
CFG
}

# 4. The sink.
"$pf/usr/sbin/smtp-sink" -u nobody "127.0.0.1:$port" 1024 &
sink=$!
trap 'kill $sink 2>/dev/null || true' EXIT
sleep 0.5

now() { date +%s.%N; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", a / b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

subscribers "$readers"
config 4
"$bin" --config "$ws/config.yaml" digest --dry-run --out "$ws/eml" >/dev/null 2>&1
size=$(stat -c %s "$ws/eml/digest.eml")
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u +%Y-%m-%d)"
echo "message: $size bytes (the digest's own .eml); readers: $readers; rounds: $rounds (A B A B)"
printf "%-12s %14s %14s %8s\n" connections "smtp-source" "syndicate" ratio
for c in "${conns[@]}"; do
  config "$c"
  src_total=0; syn_total=0
  for r in $(seq 1 "$rounds"); do
    t0=$(now)
    "$pf/usr/sbin/smtp-source" -d -s "$c" -m "$readers" -F "$ws/eml/digest.eml" -f brief@example.org -t reader@example.org "127.0.0.1:$port"
    t1=$(now)
    rm -rf "$ws/state"
    "$bin" --config "$ws/config.yaml" --log-format json digest >/dev/null 2>"$out/syndicate-$c-$r.log"
    t2=$(now)
    src_total=$(awk -v a="$src_total" -v d="$(awk -v x="$t0" -v y="$t1" 'BEGIN{print y-x}')" 'BEGIN{print a+d}')
    syn_total=$(awk -v a="$syn_total" -v d="$(awk -v x="$t1" -v y="$t2" 'BEGIN{print y-x}')" 'BEGIN{print a+d}')
  done
  src=$(div "$(( readers * rounds ))" "$src_total")
  syn=$(div "$(( readers * rounds ))" "$syn_total")
  printf "%-12s %10s msg/s %8s msg/s %8s\n" "$c" "$src" "$syn" "$(ratio "$syn" "$src")"
  echo "$c $src $syn" >> "$out/rates.txt.new"
done
mv "$out/rates.txt.new" "$out/rates.txt"
(cd "$root" && go run ./bench/chart < "$out/rates.txt" > "$root/docs/fanout.png") && echo "chart: docs/fanout.png"

# 5. Peak memory of a 100,000-reader send (readers are streamed).
subscribers 100000
config 4
rm -rf "$ws/state"
"$bin" --config "$ws/config.yaml" --log-format json digest >/dev/null 2>"$out/syndicate-100k.log" &
pid=$!
peak=0
while kill -0 "$pid" 2>/dev/null; do
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  [ -n "$hwm" ] && [ "$hwm" -gt "$peak" ] && peak=$hwm
  sleep 0.05
done
wait "$pid"
echo "peak RSS of a 100,000-reader send: $(( peak / 1024 )) MiB (target: at most 64 MiB)"

# 6. The daemon at rest: scheduled, listening, nothing due.
cat >> "$ws/config.yaml" <<CFG
schedule: {post: "", digest: "0 0 1 1 *"}
http: {listen: "127.0.0.1:$(( port + 1 ))"}
CFG
"$bin" --config "$ws/config.yaml" run 2>"$out/daemon.log" &
daemon=$!
sleep 3
rss=$(awk '/VmRSS/ {print $2}' "/proc/$daemon/status")
kill -TERM "$daemon"; wait "$daemon" || true
echo "idle daemon RSS: $(( rss / 1024 )) MiB (target: at most 30 MiB)"

# 7. Parse + compose + render of 10,000 articles.
(cd "$root" && go test -run='^$' -bench='Pipeline$|PipelineOneCore' -benchtime=5x ./syndicate/ | awk '/^Benchmark/ {print "compose benchmark:", $1, $3, $4}')
