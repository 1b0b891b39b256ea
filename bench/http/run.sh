#!/usr/bin/env bash
# HTTP figures on loopback: the gateway's queue status polls and durable
# hold + release, and the bare hyper hello-world server as the yardstick,
# each server pinned to core 0 and wrk to core 1, 64 connections. Needs wrk
# (Debian's package).
#
# Each run also prints the CPU time the server and wrk used, as a share of
# one core: a share of wrk near 100 % means the client, not the server, set
# the pace. The hello-world server is driven twice more by Lua scripts of
# the same shape as the gateway's (hello.lua, hello_hold.lua), so that the
# yardstick pays the same client cost as the runs it is compared with. The
# server's CPU time per request is the figure least moved by other work on
# the machine: 1 / (CPU per request) is what one core could serve.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
seconds=${SECONDS_PER_RUN:-10}
cargo build --release -q -p guichet-gateway -p guichet-bench --bin guichet --bin hello-hyper
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; sleep 0.5; rm -rf "$work"' EXIT
cp status.lua hold_release.lua hello.lua hello_hold.lua "$work"/

address() { for _ in $(seq 50); do grep -o '127.0.0.1:[0-9]*' "$1" 2>/dev/null && return; sleep 0.1; done; exit 1; }
# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# Busy time of the whole machine (every core), in clock ticks.
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
measure() {
  local server=$1
  shift
  local before started machine_before
  before=$(cpu_ticks "$server")
  machine_before=$(machine_ticks)
  started=$(date +%s.%N)
  (cd "$work" && taskset -c 1 /usr/bin/time -f "wrk-cpu %U %S" wrk -t1 -c64 -d"${seconds}s" --latency "$@" 2>&1 |
    grep -E "Requests/sec|    50%|    99%|Non-2xx|wrk-cpu" > "$work/wrk.out")
  local after ended machine_after
  after=$(cpu_ticks "$server")
  machine_after=$(machine_ticks)
  ended=$(date +%s.%N)
  grep -v wrk-cpu "$work/wrk.out"
  # "others": every other process on the machine (a compile next door shows here).
  awk -v b="$before" -v a="$after" -v mb="$machine_before" -v ma="$machine_after" -v s="$started" -v e="$ended" \
    -v hz="$(getconf CLK_TCK)" '/wrk-cpu/ {
      server = (a - b) / hz / (e - s); wrk = ($2 + $3) / (e - s); all = (ma - mb) / hz / (e - s)
      printf "  CPU (share of one core): server %.0f %%, wrk %.0f %%, others %.0f %%\n", 100 * server, 100 * wrk, 100 * (all - server - wrk)
      if (rate > 0) printf "  server CPU per request: %.2f us\n", 1e6 * server / rate
    }
    /Requests\/sec/ { rate = $2 }' "$work/wrk.out"
}

GUICHET_ADMIN_TOKEN=bench-admin-token-0123456789 GUICHET_LOG=warn taskset -c 0 "${GUICHET_BIN:-$root/target/release/guichet}" serve \
  --listen 127.0.0.1:0 --data-dir "$work/data" --poll-tolerance-percent 0 \
  --seat-calls-per-minute-per-buyer 100000000 --workers "${GUICHET_WORKERS:-1}" > "$work/guichet.out" &
guichet_pid=$!
guichet=$(address "$work/guichet.out")
(cd "$work" && python3 "$root/bench/http/setup.py" "http://$guichet" bench-admin-token-0123456789 20000 256)

taskset -c 0 "$root/target/release/hello-hyper" 127.0.0.1:0 1 > "$work/hello.out" &
hello_pid=$!
hello=$(address "$work/hello.out")
echo "== hello-world"; measure "$hello_pid" "http://$hello/"
echo "== hello-world, the status script's client cost"; measure "$hello_pid" -s hello.lua "http://$hello/"
echo "== hello-world, the hold script's client cost"; ADMIN_TOKEN=x measure "$hello_pid" -s hello_hold.lua "http://$hello/"
kill "$hello_pid"

echo "== queue status"; measure "$guichet_pid" -s status.lua "http://$guichet/"
echo "== durable hold + release"; ADMIN_TOKEN=bench-admin-token-0123456789 measure "$guichet_pid" -s hold_release.lua "http://$guichet/"
