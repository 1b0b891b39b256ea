#!/usr/bin/env bash
# A Python virtual environment for a test's servers: `python-venv.sh NAME`
# makes target/NAME/venv from gateway/tests/NAME/requirements.txt (pinned),
# rebuilt only when those change; safe from several test processes at once
# (one at a time under a lock); installs python3-venv with apt-get if
# missing. Prints the environment's directory. Fails loudly.
set -euo pipefail
NAME=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
REQUIREMENTS="$HERE/$NAME/requirements.txt"
DIR="$ROOT/target/$NAME"
VENV="$DIR/venv"
mkdir -p "$DIR"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

exec 9>"$DIR/setup.lock"
flock 9
if ! cmp -s "$REQUIREMENTS" "$VENV/requirements.txt" 2>/dev/null; then
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        echo "$NAME: installing python3 and python3-venv" >&2
        as_root apt-get update -qq >&2
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >&2
    fi
    echo "$NAME: creating $VENV" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2
    cp "$REQUIREMENTS" "$VENV/requirements.txt"
fi
echo "$VENV"
