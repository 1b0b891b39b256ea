#!/usr/bin/env bash
# The pages' browser tests: installs what they need (Debian's chromium, the
# npm packages of package-lock.json), builds `guichet`, starts it on a free
# port with a temporary data directory (with a fake Stripe API, for the card
# form's events, and an SMTP server on loopback, whose maildir the tests read
# the emailed links from), runs pages.test.mjs in headless
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

# A fake Stripe API on loopback, for the events paid through `stripe`
# (the card form's Stripe.js is routed to a fixture by the tests).
STRIPE_DIR=$(mktemp -d)
node "$E2E_DIR/fake-stripe-api.mjs" >"$STRIPE_DIR/stdout" &
STRIPE_PID=$!
stop_fake_stripe() {
    kill "$STRIPE_PID" 2>/dev/null || true
    rm -rf "$STRIPE_DIR"
}
trap stop_fake_stripe EXIT
STRIPE_URL=""
for _ in $(seq 1 100); do
    STRIPE_URL=$(sed -n 's/^listening on //p' "$STRIPE_DIR/stdout" | head -1)
    [ -n "$STRIPE_URL" ] && break
    sleep 0.1
done
[ -n "$STRIPE_URL" ] || { echo "e2e: the fake Stripe API did not start" >&2; exit 1; }
STRIPE_WEBHOOK_SECRET="whsec_e2e_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"

# A real SMTP server on loopback (aiosmtpd, as the email tests use), storing
# what it receives in a maildir the tests read the emailed links from.
SMTP_PYTHON=$(bash "$ROOT/gateway/tests/smtp/setup.sh")
MAIL_DIR="$STRIPE_DIR/maildir"
SMTP_PORT=$("$SMTP_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$SMTP_PYTHON" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$MAIL_DIR" &
SMTP_PID=$!
stop_helpers() {
    kill "$SMTP_PID" 2>/dev/null || true
    stop_fake_stripe
}
trap stop_helpers EXIT
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$SMTP_PORT") 2>/dev/null && break
    sleep 0.1
done

# shellcheck source=../scripts/temp-server.sh
. "$ROOT/gateway/scripts/temp-server.sh"
temp_server_start e2e pages-e2e-server \
    --stripe-secret-key sk_test_e2e --stripe-publishable-key pk_test_e2e \
    --stripe-webhook-secret "$STRIPE_WEBHOOK_SECRET" --stripe-api-base "$STRIPE_URL" \
    --smtp-relay "127.0.0.1:$SMTP_PORT" --mail-from "Guichet <billets@e2e.invalid>" --public-url "http://e2e.invalid"
# temp_server_start set its own exit trap: stop everything.
trap 'temp_server_cleanup; stop_helpers' EXIT
DATA=$SERVER_DIR

rm -rf "$SHOTS"
mkdir -p "$SHOTS"
status=0
GUICHET_URL="$URL" GUICHET_ADMIN_TOKEN="$ADMIN_TOKEN" SCREENSHOTS="$SHOTS" CHROMIUM="$CHROMIUM" \
    STRIPE_WEBHOOK_SECRET="$STRIPE_WEBHOOK_SECRET" \
    MAIL_DIR="$MAIL_DIR" SMTP_PYTHON="$SMTP_PYTHON" PARSE_MAIL="$ROOT/gateway/tests/smtp/parse.py" \
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
