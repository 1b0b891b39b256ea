#!/usr/bin/env bash
# Redis's rows of the peers table: Redis (Debian's redis-server) as a durable
# seat store, loopback, pinned to core 0, its data in a temporary directory:
# `appendonly yes`, `appendfsync always` (every write fsync'd to the
# append-only file before the reply), no RDB snapshots, defaults otherwise.
# The venue: 9,000 seats, numbered 1..9000, in a sorted set; seats.lua holds
# the 2 best (lowest-numbered) free seats and releases them.
#
# redis-benchmark on core 1, 64 clients, two rows:
# - one EVALSHA a cycle: hold 2 then release them in one call;
# - two EVALSHAs a cycle: "hold_or_release" for one of 1,000 random buyers
#   (hold if the buyer has none, else release it), so holds and releases
#   alternate per buyer; at most 2,000 seats are ever held.
# redis-benchmark runs a number of requests, not a time: a warm-up run of
# WARMUP_SECONDS (default 2) at a guessed rate sets the count for about
# SECONDS_PER_RUN (default 10). Prints what redis-benchmark and the CPU
# measure say, then `result` lines as bench/peers/guichet.sh does.
# Installs nothing: needs redis-server, redis-cli and redis-benchmark.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR/.. source=lib.sh
. "$here/../lib.sh"
for command in redis-server redis-cli redis-benchmark; do
  command -v "$command" > /dev/null ||
    { echo "redis.sh: needs $command (Debian: apt-get install -y redis-server)" >&2; exit 2; }
done
seconds=${SECONDS_PER_RUN:-10}
warmup_seconds=${WARMUP_SECONDS:-2}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; sleep 0.5; rm -rf "$work"' EXIT
port=$(free_port)

taskset -c "$server_core" redis-server --bind 127.0.0.1 --port "$port" --dir "$work" --daemonize no \
  --appendonly yes --appendfsync always --save '' --logfile "$work/redis.log" &
redis_pid=$!
cli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }
for _ in $(seq 50); do cli ping > /dev/null 2>&1 && break; sleep 0.1; done
[[ $(cli config get appendfsync | tail -1) == always ]] || { echo "redis.sh: appendfsync is not always" >&2; exit 1; }
cli eval "for seat = 1, tonumber(ARGV[1]) do redis.call('ZADD', KEYS[1], seat, seat) end" 1 seats:free 9000 > /dev/null
sha=$(cli script load "$(cat "$here/seats.lua")")
keys=(3 seats:free holds:by_expiry holds:last_id)

# redis-benchmark with $1 requests of the op $2 over $3 random buyers; sets
# bench_rate (calls/s) and bench_p99_ms from its CSV line.
benchmark() {
  run_client "$redis_pid" redis-benchmark -h 127.0.0.1 -p "$port" -c 64 -n "$1" -r "$3" --csv \
    evalsha "$sha" "${keys[@]}" "$2" __rand_int__ 2 600
  if grep -q -i error "$work/client.out"; then cat "$work/client.out" >&2; exit 1; fi
  # The CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  read -r bench_rate bench_p99_ms < <(awk -F, 'NR == 2 { gsub(/"/, ""); print $(NF - 6), $(NF - 1) }' "$work/client.out")
}

# $1 the row's name, $2 calls a cycle.
result() {
  awk -v name="$1" -v calls="$2" -v rate="$bench_rate" -v p99="$bench_p99_ms" -v server="$server_share" \
    -v others="$others_share" 'BEGIN {
    printf "result\t%s\t%d\t%.1f\t%.3f\t%.2f\t%.1f\t%.1f\n", name, calls, rate / calls, p99, 1e6 * server / rate, 100 * server, 100 * others
  }'
}

row() {
  local name=$1 op=$2 buyers=$3 calls=$4
  benchmark $((warmup_seconds * 20000)) "$op" "$buyers"
  benchmark "$(awk -v r="$bench_rate" -v s="$seconds" 'BEGIN { printf "%d", r * s }')" "$op" "$buyers"
  echo "== $name: $op"
  echo "  calls/s: $bench_rate, p99: $bench_p99_ms ms"
  print_cpu redis-benchmark "$bench_rate"
  result "$name" "$calls"
}

# Every seat is free or in exactly one hold (2 a hold).
check_seats() {
  local free held
  free=$(cli zcard seats:free)
  held=$(cli zcard holds:by_expiry)
  ((free + 2 * held == 9000)) || { echo "redis.sh: $free seats free and $held holds of 2" >&2; exit 1; }
}

row redis-cycle hold_release 1000000 1
check_seats
row redis-two-calls hold_or_release 1000 2
check_seats
