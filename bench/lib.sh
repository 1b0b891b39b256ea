# shellcheck shell=bash
# Variables set here are read by the scripts that source this file, and
# `work` and `seconds` are set by them:
# shellcheck disable=SC2034,SC2154
# Shared by the loopback benches (bench/http/run.sh, bench/peers/*.sh), sourced
# by them: servers run pinned to core 0 and clients to core 1; a client run is
# measured with the CPU time the server used, the client used and everything
# else on the machine used, each as a share of one core. The server's CPU time
# per request is the figure least moved by other work on the machine.
#
# A sourcing script sets `work` (a scratch directory: clients run there, their
# output goes to "$work/client.out") and `seconds` (the length of a run).

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
server_core=0
client_core=1

# The 127.0.0.1:PORT a server printed in the file $1, once it has.
address() { for _ in $(seq 50); do grep -o '127.0.0.1:[0-9]*' "$1" 2>/dev/null && return; sleep 0.1; done; exit 1; }

# A TCP port on loopback that nothing listens on right now.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# utime + stime of one process, in clock ticks (fields after "pid (comm)").
own_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'; }

# CPU time of a server, in clock ticks: the process (all its threads), the
# children it has waited for, and its live children. A single-process server
# (Guichet, Redis) is the first term; PostgreSQL's work is in its backends,
# children of the postmaster that are waited for when they exit.
cpu_ticks() {
  local total child
  total=$(sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 + $14 + $15 }')
  for child in $(ps -o pid= --ppid "$1"); do
    total=$((total + $(own_ticks "$child" || echo 0)))
  done
  echo "$total"
}

# Busy time of the whole machine (every core), in clock ticks.
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

# Runs a client (the command in "$@") pinned to the client core, in "$work",
# its output in "$work/client.out", while measuring the server whose process
# id is $1. Sets server_share, client_share and others_share: CPU time over
# the run's wall time, as fractions of one core ("others": every other
# process on the machine, a compile next door shows here).
run_client() {
  local server=$1
  shift
  local before machine_before started after machine_after ended
  before=$(cpu_ticks "$server")
  machine_before=$(machine_ticks)
  started=$(date +%s.%N)
  (cd "$work" && taskset -c "$client_core" /usr/bin/time -o "$work/client.time" -f "%U %S" "$@" > "$work/client.out" 2>&1)
  ended=$(date +%s.%N)
  machine_after=$(machine_ticks)
  # A server's exiting children (PostgreSQL's backends) are waited for.
  sleep 0.3
  after=$(cpu_ticks "$server")
  read -r server_share client_share others_share < <(awk -v b="$before" -v a="$after" \
    -v mb="$machine_before" -v ma="$machine_after" -v s="$started" -v e="$ended" -v hz="$(getconf CLK_TCK)" '{
      server = (a - b) / hz / (e - s); client = ($1 + $2) / (e - s); all = (ma - mb) / hz / (e - s)
      printf "%.4f %.4f %.4f\n", server, client, all - server - client
    }' "$work/client.time")
}

# Prints the CPU shares of the last run_client, naming the client $1, and the
# server's CPU time per request at $2 requests per second.
print_cpu() {
  awk -v name="$1" -v rate="$2" -v server="$server_share" -v client="$client_share" -v others="$others_share" 'BEGIN {
    printf "  CPU (share of one core): server %.0f %%, %s %.0f %%, others %.0f %%\n", 100 * server, name, 100 * client, 100 * others
    if (rate > 0) printf "  server CPU per request: %.2f us\n", 1e6 * server / rate
  }'
}

# wrk against the server whose process id is $1, 64 connections, one thread,
# "$seconds" long; the rest of the arguments go to wrk. Prints wrk's rate,
# p50, p99 and errors, and the CPU shares; sets wrk_rate (requests/s) and
# wrk_p99_ms.
wrk_run() {
  local server=$1
  shift
  run_client "$server" wrk -t1 -c64 -d"${seconds}s" --latency "$@"
  grep -E "Requests/sec|    50%|    99%|Non-2xx" "$work/client.out" || true
  wrk_rate=$(awk '/Requests\/sec/ { print $2 }' "$work/client.out")
  wrk_p99_ms=$(awk '$1 == "99%" {
      v = $2 + 0; if ($2 ~ /us$/) v /= 1000; else if ($2 ~ /[0-9]s$/ && $2 !~ /ms$/) v *= 1000; print v
    }' "$work/client.out")
  print_cpu wrk "$wrk_rate"
}

# Builds the gateway and the hello-world server (release; GUICHET_BIN may
# name another build of the gateway to run instead).
build_http_servers() {
  (cd "$bench_root" && cargo build --release -q -p guichet-gateway -p guichet-bench --bin guichet --bin hello-hyper)
}

# Starts `guichet serve --workers GUICHET_WORKERS` (default 1) on core 0 with
# its data in "$work/data", then creates the bench event with bench/http/setup.py
# ($1 buyers waiting, $2 admitted, optional $3 general-admission places; the
# access tokens land in "$work/access.txt"). Sets guichet_pid and guichet.
# GUICHET_EXTRA_ARGS (an array, may be unset) goes on its command line; the
# bench waits for /readyz (a cluster node serves once it holds the lease).
bench_admin_token=bench-admin-token-0123456789
start_guichet() {
  GUICHET_ADMIN_TOKEN=$bench_admin_token GUICHET_LOG=warn taskset -c "$server_core" \
    "${GUICHET_BIN:-$bench_root/target/release/guichet}" serve \
    --listen 127.0.0.1:0 --data-dir "$work/data" --poll-tolerance-percent 0 \
    --seat-calls-per-minute-per-buyer 100000000 --workers "${GUICHET_WORKERS:-1}" \
    ${GUICHET_EXTRA_ARGS[@]+"${GUICHET_EXTRA_ARGS[@]}"} > "$work/guichet.out" &
  guichet_pid=$!
  guichet=$(address "$work/guichet.out")
  python3 -c 'import sys, time, urllib.request
for _ in range(600):
    try:
        urllib.request.urlopen(sys.argv[1] + "/readyz"); sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit("the server never became ready")' "http://$guichet"
  (cd "$work" && python3 "$bench_root/bench/http/setup.py" "http://$guichet" "$bench_admin_token" "$@")
}

# Starts three nats-server processes (JetStream, sync_interval: always, the
# tests' pinned build from gateway/tests/nats/setup.sh) on free loopback
# ports, their stores in "$work", not pinned to a core. Sets nats_urls.
# NATS_STORE_ROOT puts the servers' stores elsewhere (say /dev/shm, to see
# what replication costs when their syncs do not queue on the log's disk).
start_nats_cluster() {
  local binary index client_ports=() route_ports=() routes=""
  binary=$(bash "$bench_root/gateway/tests/nats/setup.sh")
  for index in 0 1 2; do client_ports+=("$(free_port)"); route_ports+=("$(free_port)"); done
  for index in 0 1 2; do routes="$routes${routes:+, }nats-route://127.0.0.1:${route_ports[$index]}"; done
  nats_urls=""
  for index in 0 1 2; do
    cat > "$work/nats-$index.conf" <<CONF
server_name: n$index
listen: 127.0.0.1:${client_ports[$index]}
max_payload: 8MB
jetstream { store_dir: "${NATS_STORE_ROOT:-$work}/nats-$index", sync_interval: always }
cluster { name: bench, listen: 127.0.0.1:${route_ports[$index]}, routes: [$routes] }
CONF
    "$binary" -c "$work/nats-$index.conf" > /dev/null 2>&1 &
    nats_urls="$nats_urls${nats_urls:+,}nats://127.0.0.1:${client_ports[$index]}"
  done
}

# Starts the bare hyper hello-world server on core 0. Sets hello_pid and hello.
start_hello() {
  taskset -c "$server_core" "$bench_root/target/release/hello-hyper" 127.0.0.1:0 1 > "$work/hello.out" &
  hello_pid=$!
  hello=$(address "$work/hello.out")
}
