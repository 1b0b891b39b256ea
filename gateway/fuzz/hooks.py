"""Schemathesis hooks for fuzzing `guichet serve` (loaded by run.sh through
SCHEMATHESIS_HOOKS): the bearer token each operation is called with.

The tokens and ids come from the JSON that setup.py wrote (FUZZ_STATE):
- admin routes get the admin token;
- the seat map and holds get the shopper's access token;
- the queue status gets the poller's queue token; leaving gets the leaver's,
  so that leaving cannot revoke the shopper's access mid-run;
- routes open to a hold's or order's buyer and to the admin get one and the
  other in turn, so both are fuzzed.
"""

import itertools
import json
import os

import schemathesis

with open(os.environ["FUZZ_STATE"], encoding="utf-8") as _file:
    STATE = json.load(_file)

ADMIN_OPERATIONS = {"createEvent", "patchRoom", "getStats", "listOrders"}
SHOPPER_OPERATIONS = {"seatMap", "placeHold", "requestCancellation"}
BUYER_OR_ADMIN_OPERATIONS = {"getHold", "releaseHold", "purchaseHold", "getOrder", "cancelOrder"}
QUEUE_TOKENS = {"queueStatus": "poller_queue", "leaveQueue": "leaver_queue"}

_turns = itertools.count()


def token_for(operation_id):
    """The token an operation is called with, or None for public ones."""
    if operation_id in ADMIN_OPERATIONS:
        return STATE["admin"]
    if operation_id in SHOPPER_OPERATIONS:
        return STATE["shopper_access"]
    if operation_id in BUYER_OR_ADMIN_OPERATIONS:
        return STATE["admin"] if next(_turns) % 2 else STATE["shopper_access"]
    if operation_id in QUEUE_TOKENS:
        return STATE[QUEUE_TOKENS[operation_id]]
    return None


@schemathesis.auth(refresh_interval=None)
class Tokens:
    def get(self, case, ctx):
        return STATE

    def set(self, case, data, ctx):
        token = token_for(case.operation.definition.raw.get("operationId"))
        if token is not None:
            case.headers = dict(case.headers or {})
            case.headers["Authorization"] = f"Bearer {token}"


# `positive_data_acceptance` expects a schema-valid request to be accepted.
# These answers refuse schema-valid requests by design, because what they
# check cannot be written in JSON Schema: they are dropped here, and only
# with these codes (any other refusal still fails the run).
# - createEvent, 400 `invalid_event`: the spec's cross-field rules (a
#   section names a tier of `tiers`, ids unique, `on_sale_at` before
#   `starts_at`, at most 250,000 seats...).
# - placeHold, 422: the names must be the event's (`unknown_section`...),
#   `quantity` at most the event's `per_buyer_limit`, no seat named twice,
#   named seats in reserved sections, and the buyer's limit over all holds;
#   an `Idempotency-Key` the fuzzer sends again with another body is
#   `idempotency_key_reused`, and a buyer's 64 keyed holds are the most
#   (`too_many_hold_keys`): what came before decides, not the schema.
# - checkIn, 422: a ticket code is signed by the server (`invalid_ticket`
#   for any other string), and an event's check-ins name at most 64 doors.
# - purchaseHold, 422 `idempotency_key_reused`: the fuzzer reuses values it
#   saw (the setup's keys, its own), and a key already used by this buyer
#   for another hold or `payment_ref` is refused; `too_many_orders`: the
#   buyer's 1,000 orders. Both depend on what came before, not on the schema.
# - requestCancellation, 409 and 429: each order is sent at most 5
#   confirmations, one a minute, none once cancelled, and none to a buyer
#   who gave no email at checkout (the setup's orders are bought without):
#   what came before decides, not the schema.
# - lookupOrder, 429 `lookup_rate_limited`: 5 lookups a minute per client
#   and 3 per order id, whatever is asked (so a refusal tells nothing).
# - paymentWebhook, 400 `invalid_signature`: the signature is an HMAC of the
#   body under a secret the fuzzer does not have; the webhook tests in
#   gateway/tests/payments.rs sign their own deliveries.
BY_DESIGN_REFUSALS = {
    ("createEvent", 400): {"invalid_event"},
    ("placeHold", 422): {
        "bad_quantity",
        "unknown_section",
        "unknown_row",
        "unknown_seat",
        "unknown_tier",
        "not_reserved_seating",
        "duplicate_seat",
        "over_buyer_limit",
        "idempotency_key_reused",
        "too_many_hold_keys",
    },
    ("purchaseHold", 422): {"idempotency_key_reused", "too_many_orders"},
    ("paymentWebhook", 400): {"invalid_signature"},
    ("requestCancellation", 409): {"order_cancelled", "no_buyer_email", "cancel_requests_exhausted"},
    ("requestCancellation", 429): {"cancel_request_too_soon", "rate_limited"},
    ("lookupOrder", 429): {"lookup_rate_limited"},
    ("checkIn", 422): {"invalid_ticket", "too_many_doors"},
}


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if failure.code != "ST202":
        return True
    codes = BY_DESIGN_REFUSALS.get((case.operation.definition.raw.get("operationId"), response.status_code))
    if codes is None:
        return True
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return True
    return code not in codes
