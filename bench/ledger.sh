#!/usr/bin/env bash
# The ledger's steps on PostgreSQL against SQLite's, on this machine.
#
#   bench/ledger.sh [iterations]
#
# Runs BenchmarkLedger (syndicate/store/ledger_bench_test.go): a post's two
# commits, a digest's group commit of 16 outcomes and a claim of 100
# readers, on SQLite (the shipped setting), on PostgreSQL with
# synchronous_commit=off (the same promise: a commit survives the process)
# and with synchronous_commit=on (it survives the power too). Prints each
# step's rate and its ratio to SQLite's.
set -euo pipefail
n=${1:-2000}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bench/out"
mkdir -p "$out"
cd "$root"
go test -run='^$' -bench='^BenchmarkLedger$' -benchtime="${n}x" -timeout=30m ./syndicate/store/ | tee "$out/ledger.txt"
awk '
  /^BenchmarkLedger\// {
    split($1, part, "/"); backend = part[2]; step = part[3]; sub(/-[0-9]+$/, "", step)
    for (i = 1; i <= NF; i++) if ($(i) ~ /\/s$/) { rate[backend, step] = $(i-1); unit[step] = $(i) }
    steps[step] = 1; backends[backend] = 1
  }
  END {
    for (s in steps) {
      base = rate["sqlite", s]
      line = sprintf("%-9s sqlite %s %s", s, base, unit[s])
      for (b in backends) if (b != "sqlite" && rate[b, s] != "")
        line = line sprintf("; %s %s (%.2f of sqlite)", b, rate[b, s], rate[b, s] / base)
      print line
    }
  }' "$out/ledger.txt"
