"""Prepares a running `guichet serve` for the schema-driven fuzzing (run.sh).

Creates an event on sale now, admitting fast, then buyers: one whose access
token places holds and buys, one whose queue token polls, one whose queue
token leaves. Makes holds and orders so that the fuzzer's ids reach real
ones. Writes what the hooks need (tokens, ids) as JSON, and the
schemathesis.toml that binds the path parameters to those ids.

Usage: setup.py URL ADMIN_TOKEN STATE_JSON CONFIG_TOML
Only the standard library: it runs before the virtual environment matters.
"""

import json
import sys
import time
import urllib.error
import urllib.request

EVENT_ID = "fuzz-on-sale"
# Enough holds and orders that the fuzzer's releases, purchases and
# cancellations do not use up every real id early in the run.
HOLDS = 6
ORDERS = 4


def call(base, method, path, token=None, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    return status, (json.loads(text) if text else None)


def expect(answer, status, what):
    got, body = answer
    if got != status:
        sys.exit(f"fuzz setup: {what}: expected {status}, got {got}: {body}")
    return body


def event_spec():
    return {
        "id": EVENT_ID,
        "name": "Fuzzing on-sale",
        "venue": "Salle du fuzz",
        "starts_at": "2099-08-30T23:30:00Z",
        "on_sale_at": "2026-01-01T00:00:00Z",
        # Buyers may cancel their own orders, so cancelling is fuzzed as a buyer too.
        "refund_until": "2099-08-01T00:00:00Z",
        "currency": "CAD",
        "tiers": [
            {"id": "parterre", "name": "Parterre", "price_cents": 14950},
            {"id": "pelouse", "name": "Pelouse", "price_cents": 7950},
        ],
        "sections": [
            {
                "id": "A",
                "name": "Parterre A",
                "tier": "parterre",
                "rows": [{"id": str(row), "seats": 40} for row in range(1, 21)],
            },
            {"id": "GA", "name": "Pelouse", "tier": "pelouse", "capacity": 100000},
        ],
        "per_buyer_limit": 100,
        "hold_ttl_s": 86400,
        "room": {"admit_per_minute": 1000000, "max_active": 1000000, "access_ttl_s": 86400},
    }


def admitted(base, count):
    """`count` buyers join and poll until admitted: [(queue token, access token)]."""
    queue_tokens = [
        expect(call(base, "POST", f"/v1/events/{EVENT_ID}/queue"), 201, "join")["queue_token"] for _ in range(count)
    ]
    buyers = []
    for queue_token in queue_tokens:
        deadline = time.monotonic() + 30
        while True:
            status = expect(
                call(base, "GET", f"/v1/events/{EVENT_ID}/queue/status", queue_token), 200, "queue status"
            )
            if status["state"] == "admitted":
                buyers.append((queue_token, status["access_token"]))
                break
            if time.monotonic() > deadline:
                sys.exit(f"fuzz setup: a buyer was not admitted within 30 s: {status}")
            time.sleep(0.2)
    return buyers


def main():
    base, admin, state_path, config_path = sys.argv[1:5]
    expect(call(base, "POST", "/v1/events", admin, event_spec()), 201, "create the event")
    (shopper_queue, shopper), (poller_queue, _), (leaver_queue, _) = admitted(base, 3)
    holds = [
        expect(
            call(base, "POST", f"/v1/events/{EVENT_ID}/holds", shopper, {"section": "GA", "quantity": 1}),
            201,
            "place a hold",
        )["hold_id"]
        for _ in range(HOLDS + ORDERS)
    ]
    orders = [
        expect(
            call(
                base,
                "POST",
                f"/v1/holds/{hold}/purchase",
                shopper,
                {"payment_ref": f"setup-{index}"},
                {"Idempotency-Key": f"setup-{index}"},
            ),
            201,
            "buy a hold",
        )["order_id"]
        for index, hold in enumerate(holds[HOLDS:])
    ]
    state = {
        "admin": admin,
        "event_id": EVENT_ID,
        "shopper_access": shopper,
        "shopper_queue": shopper_queue,
        "poller_queue": poller_queue,
        "leaver_queue": leaver_queue,
        "holds": holds[:HOLDS],
        "orders": orders,
    }
    with open(state_path, "w", encoding="utf-8") as file:
        json.dump(state, file)
    with open(config_path, "w", encoding="utf-8") as file:
        file.write(schemathesis_config(state))


def toml_list(values):
    return "[" + ", ".join(json.dumps(value) for value in values) + "]"


def schemathesis_config(state):
    """Path parameters drawn from the real ids most of the time, and
    otherwise generated (unknown ids, malformed ones: the 404s)."""
    return f"""# Written by gateway/fuzz/setup.py for one run.
[dictionaries.events]
values = {toml_list([state["event_id"]])}

[dictionaries.holds]
values = {toml_list(state["holds"])}

[dictionaries.orders]
values = {toml_list(state["orders"])}

[parameters]
"path.event_id" = {{ dictionary = "events", probability = 0.8 }}
"path.hold_id" = {{ dictionary = "holds", probability = 0.8 }}
"path.order_id" = {{ dictionary = "orders", probability = 0.8 }}
"""


if __name__ == "__main__":
    main()
