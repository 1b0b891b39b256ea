#!/usr/bin/env bash
# HAProxy for the cluster tests (the load balancer in front of the nodes):
# Debian's package, installed with apt-get if missing. Prints the binary's
# path. Safe to run from several test processes at once (one at a time
# under a lock). Fails loudly: the tests never skip.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
mkdir -p "$ROOT/target"
exec 9>"$ROOT/target/haproxy-setup.lock"
flock 9
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
if ! command -v haproxy >/dev/null 2>&1; then
    echo "haproxy: installing Debian's package" >&2
    as_root apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >&2
    # The package starts a system-wide HAProxy; the tests start their own.
    as_root systemctl stop haproxy >/dev/null 2>&1 || as_root service haproxy stop >/dev/null 2>&1 || true
fi
haproxy -v >&2
command -v haproxy
