#!/usr/bin/env bash
# Schema-driven fuzzing of the HTTP API: schemathesis (pinned in
# requirements.txt, in a virtual environment under target/fuzz/) against a
# live `guichet serve` with docs/openapi.yaml. setup.py creates an event on
# sale with buyers, holds and orders; hooks.py gives each operation its
# token (admin, access or queue), and the generated schemathesis.toml draws
# event, hold and order ids from the real ones, so the run reaches the
# holds, orders and the queue, not only 401s and 404s.
# Exits non-zero on any failed check. Bounded: FUZZ_MAX_EXAMPLES cases per
# operation and phase (default 60), a few minutes on 2 cores; FUZZ_SEED
# varies the cases; FUZZ_ARGS passes more options to `schemathesis run`
# (`--report har --report-dir DIR` keeps every request and answer).
set -euo pipefail
cd "$(dirname "$0")"
FUZZ_DIR=$(pwd)
ROOT=$(cd ../.. && pwd)
VENV="$ROOT/target/fuzz/venv"
MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-60}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "fuzz: installing python3 and python3-venv"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
fi
# The environment is rebuilt when the pinned requirements change.
if ! cmp -s requirements.txt "$VENV/requirements.txt" 2>/dev/null; then
    echo "fuzz: creating $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt
    cp requirements.txt "$VENV/requirements.txt"
fi
echo "fuzz: $("$VENV/bin/schemathesis" --version)"

# shellcheck source=../scripts/temp-server.sh
. "$ROOT/gateway/scripts/temp-server.sh"
# A copy named fuzz-server, with two budgets raised for the run, each
# exercised by the API tests instead:
# - the seat-call budget per access token (600 a minute): the fuzzer calls
#   the seat routes thousands of times with one shopper's token, and would
#   otherwise fuzz 429s;
# - the poll interval (a poll sooner than 90% of `poll_after_ms` is 429):
#   tolerance 0 accepts every poll, so the queue status is fuzzed, not only
#   its 429.
# And a webhook signing secret, so the provider's webhook route is fuzzed
# (unsigned deliveries are 400), not only its 503 for a server without one.
temp_server_start fuzz fuzz-server --seat-calls-per-minute-per-buyer 100000000 --poll-tolerance-percent 0 \
    --stripe-webhook-secret whsec_fuzz
WORK=$SERVER_DIR

"$VENV/bin/python" "$FUZZ_DIR/setup.py" "$URL" "$ADMIN_TOKEN" "$WORK/state.json" "$WORK/schemathesis.toml"

status=0
# Every check but `use_after_free`: a released hold still answers GET (with
# status `released`) by design, as the contract says.
# Run from the temporary directory: schemathesis keeps a cache of failures
# (.schemathesis/) in the working directory, and it belongs to no checkout.
cd "$WORK"
FUZZ_STATE="$WORK/state.json" SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$FUZZ_DIR" PYTHONDONTWRITEBYTECODE=1 \
    timeout 900 "$VENV/bin/schemathesis" --no-color --config-file "$WORK/schemathesis.toml" run \
    "$ROOT/docs/openapi.yaml" --url "$URL" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,positive_data_acceptance \
    --phases examples,coverage,fuzzing \
    --max-examples "$MAX_EXAMPLES" --workers 2 --seed "${FUZZ_SEED:-20261207}" \
    --request-timeout 15 --suppress-health-check all --continue-on-failure ${FUZZ_ARGS:-} \
    || status=$?
# What the run reached, by route and status, as the server counted it: a
# run that met only 401s and 404s would show here.
"$VENV/bin/python" - "$URL" <<'PY' || true
import re, sys, urllib.request
text = urllib.request.urlopen(sys.argv[1] + "/metrics", timeout=10).read().decode()
print("fuzz: answers by route and status:")
for line in text.splitlines():
    if line.startswith("guichet_http_requests_total{"):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
        print(f"  {labels.get('route', '?'):<24} {labels.get('status', '?')} {line.rsplit(' ', 1)[-1]:>6}")
PY
temp_server_check fuzz "during the run" || status=1
temp_server_log fuzz 50
exit "$status"
