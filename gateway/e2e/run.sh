#!/usr/bin/env bash
# The pages' browser tests: installs what they need (Debian's chromium, the
# npm packages of package-lock.json), builds `guichet`, starts it on a free
# port with a temporary data directory, runs pages.test.mjs in headless
# Chromium, and stops the server. Screenshots go to target/e2e-screenshots/.
# Exits non-zero on any failure, including a JavaScript error in a page.
set -euo pipefail
cd "$(dirname "$0")"
E2E_DIR=$(pwd)
ROOT=$(cd ../.. && pwd)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
SHOTS=${SCREENSHOTS:-$ROOT/target/e2e-screenshots}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ! -x "$CHROMIUM" ]; then
    echo "e2e: installing Debian's chromium"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "e2e: installing node and npm"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
echo "e2e: $("$CHROMIUM" --version 2>/dev/null | head -1), node $(node --version)"

npm ci --no-audit --no-fund --loglevel=error

(cd "$ROOT" && cargo build -p guichet-gateway --bin guichet)
BIN="$ROOT/target/debug/guichet"

DATA=$(mktemp -d)
ADMIN_TOKEN="e2e-admin-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$DATA"
}
trap cleanup EXIT

# Run from a copy with a name of its own: on a machine shared with other
# work (load tests, benchmarks), whatever stops stray `guichet` processes
# must not stop this one mid-test.
cp "$BIN" "$DATA/pages-e2e-server"
GUICHET_ADMIN_TOKEN="$ADMIN_TOKEN" GUICHET_LOG=warn \
    "$DATA/pages-e2e-server" serve --listen 127.0.0.1:0 --data-dir "$DATA/data" >"$DATA/stdout" 2>"$DATA/stderr" &
SERVER_PID=$!
URL=""
for _ in $(seq 1 100); do
    URL=$(sed -n 's/^listening on //p' "$DATA/stdout" | head -1)
    [ -n "$URL" ] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "e2e: the server did not start:" >&2
        cat "$DATA/stderr" >&2
        exit 1
    fi
    sleep 0.1
done
[ -n "$URL" ] || { echo "e2e: the server did not say where it listens" >&2; exit 1; }
echo "e2e: server at $URL"

rm -rf "$SHOTS"
mkdir -p "$SHOTS"
status=0
GUICHET_URL="$URL" GUICHET_ADMIN_TOKEN="$ADMIN_TOKEN" SCREENSHOTS="$SHOTS" CHROMIUM="$CHROMIUM" \
    timeout 300 node --test --test-concurrency=1 --test-timeout=120000 --test-reporter=spec \
    "$E2E_DIR/pages.test.mjs" 2>&1 | tee "$DATA/report" || status=$?
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    code=0
    wait "$SERVER_PID" || code=$?
    SERVER_PID=""
    echo "e2e: the server stopped during the tests (exit status $code; over 128 is a signal)" >&2
    status=1
fi
if [ -s "$DATA/stderr" ]; then
    echo "e2e: server log:"
    cat "$DATA/stderr"
fi
echo "e2e: screenshots in $SHOTS"
passed=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$DATA/report" | tail -1)
failed=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$DATA/report" | tail -1)
echo "e2e: ${passed:-0} passed, ${failed:-0} failed"
if [ "$status" -eq 0 ] && { [ -z "$passed" ] || [ "$passed" -eq 0 ] || [ "${failed:-1}" -ne 0 ]; }; then
    status=1
fi
exit "$status"
