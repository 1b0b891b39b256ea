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

# shellcheck source=../scripts/temp-server.sh
. "$ROOT/gateway/scripts/temp-server.sh"
temp_server_start e2e pages-e2e-server
DATA=$SERVER_DIR

rm -rf "$SHOTS"
mkdir -p "$SHOTS"
status=0
GUICHET_URL="$URL" GUICHET_ADMIN_TOKEN="$ADMIN_TOKEN" GUICHET_DATA_DIR="$SERVER_DIR/data" SCREENSHOTS="$SHOTS" CHROMIUM="$CHROMIUM" \
    timeout 300 node --test --test-concurrency=1 --test-timeout=120000 --test-reporter=spec \
    "$E2E_DIR/pages.test.mjs" 2>&1 | tee "$DATA/report" || status=$?
temp_server_check e2e "during the tests" || status=1
temp_server_log e2e
echo "e2e: screenshots in $SHOTS"
passed=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$DATA/report" | tail -1)
failed=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$DATA/report" | tail -1)
echo "e2e: ${passed:-0} passed, ${failed:-0} failed"
if [ "$status" -eq 0 ] && { [ -z "$passed" ] || [ "$passed" -eq 0 ] || [ "${failed:-1}" -ne 0 ]; }; then
    status=1
fi
exit "$status"
