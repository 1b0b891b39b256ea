#!/usr/bin/env bash
# HTTP figures on loopback: a bare hyper hello-world server, then the
# gateway's queue status polls and durable hold + release, each server pinned
# to core 0 and wrk to core 1, 64 connections. Needs wrk (Debian's package).
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
seconds=${SECONDS_PER_RUN:-10}
cargo build --release -q -p guichet-gateway -p guichet-bench --bin guichet --bin hello-hyper
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; sleep 0.5; rm -rf "$work"' EXIT
cp status.lua hold_release.lua "$work"/

address() { for _ in $(seq 50); do grep -o '127.0.0.1:[0-9]*' "$1" 2>/dev/null && return; sleep 0.1; done; exit 1; }
measure() { (cd "$work" && taskset -c 1 wrk -t1 -c64 -d"${seconds}s" --latency "$@" | grep -E "Requests/sec|    50%|    99%|Non-2xx") }

taskset -c 0 "$root/target/release/hello-hyper" 127.0.0.1:0 1 > "$work/hello.out" &
hello=$(address "$work/hello.out")
echo "== hello-world"; measure "http://$hello/"
kill %1

GUICHET_ADMIN_TOKEN=bench-admin-token-0123456789 GUICHET_LOG=warn taskset -c 0 "$root/target/release/guichet" serve \
  --listen 127.0.0.1:0 --data-dir "$work/data" --poll-tolerance-percent 0 \
  --seat-calls-per-minute-per-buyer 100000000 --workers "${GUICHET_WORKERS:-1}" > "$work/guichet.out" &
guichet=$(address "$work/guichet.out")
(cd "$work" && python3 "$root/bench/http/setup.py" "http://$guichet" bench-admin-token-0123456789 20000 256)
echo "== queue status"; measure -s status.lua "http://$guichet/"
echo "== durable hold + release"; ADMIN_TOKEN=bench-admin-token-0123456789 measure -s hold_release.lua "http://$guichet/"
