#!/usr/bin/env bash
# PostgreSQL's row of the peers table: Debian's PostgreSQL (the newest
# installed under /usr/lib/postgresql) as a durable seat store, loopback,
# pinned to core 0 (the postmaster and so every backend), a cluster made by
# initdb in a temporary directory. Settings: fsync = on and
# synchronous_commit = on (the defaults, set explicitly: each commit waits for
# its WAL flush), max_connections = 100 and shared_buffers = 128MB (initdb's
# usual choices, set explicitly since initdb lowers them on small machines);
# listening on 127.0.0.1 only, trust authentication on loopback (a throwaway
# cluster); defaults otherwise. As root, runs the server as the `postgres`
# user (PostgreSQL refuses root). The venue: schema.sql (9,000 seats).
#
# pgbench on core 1, 64 clients, one thread, SECONDS_PER_RUN (default 10)
# after WARMUP_SECONDS (default 2): cycle.sql, hold 2 then release, 2 commits
# a cycle. The p99 is of a whole cycle, from pgbench's per-transaction log
# (--log). Prints pgbench's summary and the CPU measure, then a `result`
# line as bench/peers/guichet.sh does. Installs nothing: needs PostgreSQL's
# server binaries (Debian: apt-get install -y postgresql) and pgbench.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR/.. source=lib.sh
. "$here/../lib.sh"
pg_bin=$(find /usr/lib/postgresql -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -1)
[[ -n $pg_bin && -x $pg_bin/postgres && -x $pg_bin/pgbench ]] ||
  { echo "postgres.sh: needs PostgreSQL (Debian: apt-get install -y postgresql)" >&2; exit 2; }
seconds=${SECONDS_PER_RUN:-10}
warmup_seconds=${WARMUP_SECONDS:-2}
work=$(mktemp -d)
as_owner=()
if [[ $(id -u) == 0 ]]; then
  id postgres > /dev/null 2>&1 || { echo "postgres.sh: as root, needs the postgres user" >&2; exit 2; }
  chown postgres "$work"
  as_owner=(runuser -u postgres --)
fi
stop() {
  if [[ -f $work/data/postmaster.pid ]]; then
    "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$work/data" -m fast -w stop > /dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap stop EXIT
cd "$work"  # a directory the postgres user may enter
port=$(free_port)

"${as_owner[@]}" "$pg_bin/initdb" -D "$work/data" -U postgres --auth=trust -E UTF8 --no-locale > "$work/initdb.log"
"${as_owner[@]}" taskset -c "$server_core" "$pg_bin/postgres" -D "$work/data" \
  -c listen_addresses=127.0.0.1 -c port="$port" -c unix_socket_directories="$work" \
  -c fsync=on -c synchronous_commit=on -c max_connections=100 -c shared_buffers=128MB > "$work/postgres.log" 2>&1 &
for _ in $(seq 100); do "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break; sleep 0.1; done
postmaster_pid=$(head -1 "$work/data/postmaster.pid")
psql() { "$pg_bin/psql" -h 127.0.0.1 -p "$port" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
psql -f "$here/schema.sql"
cp "$here/cycle.sql" "$work"/
pgbench() {
  run_client "$postmaster_pid" "$pg_bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -M prepared \
    -c 64 -j 1 -f cycle.sql "$@" postgres
}

pgbench -T "$warmup_seconds"
rm -f "$work"/pgbench_log.*
pgbench -T "$seconds" --log --log-prefix=pgbench_log
echo "== PostgreSQL: hold 2 (SKIP LOCKED) + release, 2 commits"
grep -E "^(tps|latency average|number of (transactions actually|failed))" "$work/client.out"
if ! grep -q "number of failed transactions: 0 " "$work/client.out"; then cat "$work/client.out" >&2; exit 1; fi
rate=$(awk '/^tps = / { print $3 }' "$work/client.out")
# The log: client, transaction, latency (µs), script, epoch s, µs.
p99_ms=$(cat "$work"/pgbench_log.* | awk '{ print $3 }' | sort -n | awk '{ v[NR] = $1 } END { print v[int(0.99 * NR + 0.5)] / 1000 }')
echo "  p99 of a cycle: $p99_ms ms"
print_cpu pgbench "$(awk -v rate="$rate" 'BEGIN { print 2 * rate }')"  # per statement
[[ $(psql -At -c "SELECT count(*) FROM seats WHERE held_by IS NULL") == 9000 ]] ||
  { echo "postgres.sh: seats left held" >&2; exit 1; }
awk -v rate="$rate" -v p99="$p99_ms" -v server="$server_share" -v others="$others_share" 'BEGIN {
  printf "result\tpostgres\t2\t%.1f\t%.3f\t%.2f\t%.1f\t%.1f\n", rate, p99, 1e6 * server / rate / 2, 100 * server, 100 * others
}'
