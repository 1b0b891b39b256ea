"""Creates the bench event and queue tokens and access tokens for the HTTP
scenario: `python3 setup.py BASE_URL ADMIN_TOKEN WAITING ADMITTED [PLACES]`
(PLACES: the general-admission section's capacity, 1,000,000 by default)."""
import concurrent.futures
import json
import sys
import time
import urllib.request

base, admin, waiting, admitted = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
places = int(sys.argv[5]) if len(sys.argv) > 5 else 1000000


def call(method, path, token=None, body=None):
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode())
    if token:
        request.add_header("Authorization", "Bearer " + token)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


spec = {
    "id": "bench", "name": "Bench", "venue": "Loopback", "starts_at": "2099-01-01T20:00:00Z",
    "on_sale_at": "2026-01-01T00:00:00Z", "currency": "CAD",
    "tiers": [{"id": "ga", "name": "GA", "price_cents": 5000}],
    "sections": [{"id": "GA", "name": "GA", "tier": "ga", "capacity": places}],
    "per_buyer_limit": 8, "hold_ttl_s": 600,
    "room": {"admit_per_minute": 1000000, "max_active": admitted, "access_ttl_s": 86400},
}
assert call("POST", "/v1/events", admin, spec)[0] == 201
time.sleep(0.5)  # the lottery of an empty lobby


def join(_):
    status, body = call("POST", "/v1/events/bench/queue")
    assert status == 201, body
    return body["queue_token"]


with concurrent.futures.ThreadPoolExecutor(32) as pool:
    tokens = list(pool.map(join, range(admitted + waiting)))
time.sleep(1.0)  # a few ticks: the first `admitted` buyers are in


def poll(token):
    status, body = call("GET", "/v1/events/bench/queue/status", token)
    assert status == 200, body
    return token, body


with concurrent.futures.ThreadPoolExecutor(32) as pool:
    polled = list(pool.map(poll, tokens))
access = [body["access_token"] for _, body in polled if body["state"] == "admitted"]
queued = [token for token, body in polled if body["state"] == "waiting"]
assert len(access) == admitted, f"{len(access)} admitted"
open("tokens.txt", "w").write("\n".join(queued) + "\n")
open("access.txt", "w").write("\n".join(access) + "\n")
print(f"{len(queued)} waiting, {len(access)} admitted")
