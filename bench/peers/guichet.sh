#!/usr/bin/env bash
# Guichet's row of the peers table, and the bare hyper hello-world's: the
# durable hold + release cycle over HTTP (bench/http/hold_release.lua, two
# requests a cycle: POST a hold of 2 general-admission places, DELETE it once
# acknowledged, each answered only once its log record is fdatasync'd), with
# `guichet serve --workers 1` pinned to core 0 and wrk to core 1, 64
# connections, on an event of 9,000 places and 256 admitted buyers; again
# in cluster mode, the log replicated on three local NATS JetStream servers
# (REPLICATED=0 skips that row). Then
# hello-world driven by the same script's shape (hello_hold.lua), the
# yardstick: the same HTTP stack doing nothing. Builds both (release).
#
# Prints what wrk and the CPU measure say, then one `result` line per row for
# bench/peers/run.sh (tab-separated: result, name, requests per cycle,
# cycles/s, p99 in ms, server CPU per request in µs, server's core busy %,
# others %; table.py reads them).
# SECONDS_PER_RUN (default 10), WARMUP_SECONDS (default 2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR/.. source=lib.sh
. "$here/../lib.sh"
command -v wrk > /dev/null || { echo "guichet.sh: needs wrk (Debian: apt-get install -y wrk)" >&2; exit 2; }
seconds=${SECONDS_PER_RUN:-10}
warmup_seconds=${WARMUP_SECONDS:-2}
build_http_servers
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; sleep 0.5; rm -rf "$work"' EXIT
cp "$bench_root"/bench/http/{hold_release,hello_hold}.lua "$work"/

# One result line from the last wrk_run: $1 the row's name, 2 requests a cycle.
result() {
  awk -v name="$1" -v rate="$wrk_rate" -v p99="$wrk_p99_ms" -v server="$server_share" -v others="$others_share" 'BEGIN {
    printf "result\t%s\t2\t%.1f\t%.3f\t%.2f\t%.1f\t%.1f\n", name, rate / 2, p99, 1e6 * server / rate, 100 * server, 100 * others
  }'
}

export ADMIN_TOKEN=$bench_admin_token HOLD_QUANTITY=2
# $1 the row's name, $2 what the heading says.
guichet_row() {
  start_guichet 0 256 9000 > /dev/null
  run_client "$guichet_pid" wrk -t1 -c64 -d"${warmup_seconds}s" -s hold_release.lua "http://$guichet/"
  echo "== Guichet: durable hold of 2 places + release$2"
  wrk_run "$guichet_pid" -s hold_release.lua "http://$guichet/"
  if grep -q Non-2xx "$work/client.out"; then echo "guichet.sh: some holds or releases were refused" >&2; exit 1; fi
  result "$1"
  kill "$guichet_pid"
  wait "$guichet_pid" 2> /dev/null || true
  rm -rf "$work/data"
}

guichet_row guichet ""
if [[ ${REPLICATED:-1} == 1 ]]; then
  # Cluster mode: every batch also appended to a three-server JetStream
  # stream (each server fsyncs it) before the answer; NATS is not pinned,
  # so its CPU shows as "others".
  start_nats_cluster
  GUICHET_EXTRA_ARGS=(--cluster "$nats_urls" --node-id bench)
  guichet_row guichet-replicated ", replicated on NATS JetStream (R3)"
  GUICHET_EXTRA_ARGS=()
fi

start_hello
run_client "$hello_pid" wrk -t1 -c64 -d"${warmup_seconds}s" -s hello_hold.lua "http://$hello/"
echo "== hello-world, the hold script's shape"
wrk_run "$hello_pid" -s hello_hold.lua "http://$hello/"
result hello-world
