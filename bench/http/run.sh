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
# the machine: 1 / (CPU per request) is what one core could serve. The
# measuring and the servers' start are in bench/lib.sh, shared with
# bench/peers/.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${SECONDS_PER_RUN:-10}
# shellcheck source-path=SCRIPTDIR/.. source=lib.sh
. ../lib.sh
build_http_servers
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; sleep 0.5; rm -rf "$work"' EXIT
cp status.lua hold_release.lua hello.lua hello_hold.lua "$work"/
measure() { wrk_run "$@"; }

start_guichet 20000 256
start_hello
echo "== hello-world"; measure "$hello_pid" "http://$hello/"
echo "== hello-world, the status script's client cost"; measure "$hello_pid" -s hello.lua "http://$hello/"
echo "== hello-world, the hold script's client cost"; ADMIN_TOKEN=x measure "$hello_pid" -s hello_hold.lua "http://$hello/"
kill "$hello_pid"

echo "== queue status"; measure "$guichet_pid" -s status.lua "http://$guichet/"
echo "== durable hold + release"; ADMIN_TOKEN=$bench_admin_token measure "$guichet_pid" -s hold_release.lua "http://$guichet/"
