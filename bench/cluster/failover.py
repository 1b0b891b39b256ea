"""Failover time in cluster mode, over real processes: three nats-server
processes (JetStream, sync_interval: always; the tests' pinned build) and two
`guichet serve --cluster` nodes (the release build: run
`cargo build --release -p guichet-gateway` first). Each run: node A is the
primary, node B a standby; a few events are created; A is killed (SIGKILL);
B is asked to create an event every 20 ms until one is answered 201.

    python3 bench/cluster/failover.py [RUNS] [LEASE_MS]

Prints, per run and as medians (with the range): from the kill to B taking
the lease (the lease running out, and B seeing it), from the lease to B
serving (recovering its copy, the term record replicated), and from the kill
to the first 2xx B answered."""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GUICHET = os.path.join(ROOT, "target", "release", "guichet")
ADMIN = "bench-admin-token-0123456789"
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
LEASE_MS = sys.argv[2] if len(sys.argv) > 2 else "2000"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nats_cluster(work):
    binary = subprocess.run(["bash", os.path.join(ROOT, "gateway/tests/nats/setup.sh")], check=True,
                            capture_output=True, text=True).stdout.strip()
    clients, routes = [free_port() for _ in range(3)], [free_port() for _ in range(3)]
    route_list = ", ".join(f"nats-route://127.0.0.1:{p}" for p in routes)
    processes = []
    for i in range(3):
        conf = os.path.join(work, f"nats-{i}.conf")
        with open(conf, "w") as f:
            f.write(f"server_name: n{i}\nlisten: 127.0.0.1:{clients[i]}\nmax_payload: 8MB\n"
                    f"jetstream {{ store_dir: \"{work}/nats-{i}\", sync_interval: always }}\n"
                    f"cluster {{ name: bench, listen: 127.0.0.1:{routes[i]}, routes: [{route_list}] }}\n")
        processes.append(subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return processes, ",".join(f"nats://127.0.0.1:{p}" for p in clients)


def node(work, name, urls):
    log = open(os.path.join(work, f"{name}.log"), "w")
    process = subprocess.Popen(
        [GUICHET, "serve", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(work, name), "--cluster", urls,
         "--node-id", name, "--cluster-lease-ms", LEASE_MS, "--log-format", "json"],
        env={**os.environ, "GUICHET_ADMIN_TOKEN": ADMIN, "GUICHET_LOG": "warn"}, stdout=subprocess.PIPE,
        stderr=log, text=True)
    base = process.stdout.readline().strip().removeprefix("listening on ")
    return process, base


def call(method, url, body=None):
    request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Authorization", "Bearer " + ADMIN)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def spec(event_id):
    return {"id": event_id, "name": "Bench", "venue": "Loopback", "starts_at": "2099-01-01T20:00:00Z",
            "on_sale_at": "2099-01-01T00:00:00Z", "currency": "CAD",
            "tiers": [{"id": "ga", "name": "GA", "price_cents": 5000}],
            "sections": [{"id": "GA", "name": "GA", "tier": "ga", "capacity": 100}], "per_buyer_limit": 4,
            "hold_ttl_s": 600, "room": {"admit_per_minute": 600, "max_active": 100, "access_ttl_s": 900}}


def wait(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def log_times(path):
    """Wall-clock seconds of B's 'holds the lease' and 'is the primary' lines."""
    times = {}
    for line in open(path):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = entry.get("fields", {}).get("message", "")
        stamp = entry.get("timestamp", "")
        if "holds the lease" in message:
            times["lease"] = stamp
        if "is the primary" in message:
            times["primary"] = stamp
            times["since_lease_ms"] = entry["fields"].get("since_lease_taken_ms")
    return times


def one_run(run):
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as work:
        nats, urls = nats_cluster(work)
        try:
            a, a_base = node(work, "a", urls)
            assert wait(lambda: call("GET", a_base + "/readyz") == 200, 60), "A becomes the primary"
            b, b_base = node(work, "b", urls)
            for i in range(5):
                assert call("POST", a_base + "/v1/events", spec(f"e{i}")) == 201
            time.sleep(1)
            killed_wall, killed = time.time(), time.monotonic()
            a.send_signal(signal.SIGKILL)
            a.wait()
            attempt = 0
            while True:
                attempt += 1
                if call("POST", b_base + "/v1/events", spec(f"after-{attempt}")) == 201:
                    break
                assert time.monotonic() - killed < 60, "B serves"
                time.sleep(0.02)
            first_2xx = time.monotonic() - killed
            b.send_signal(signal.SIGTERM)
            b.wait()
            times = log_times(os.path.join(work, "b.log"))
            from datetime import datetime
            lease = datetime.fromisoformat(times["lease"].replace("Z", "+00:00")).timestamp() - killed_wall
            takeover = times["since_lease_ms"] / 1000
            print(f"run {run}: lease taken {lease:.2f} s after the kill, serving {takeover:.2f} s later; "
                  f"first 2xx {first_2xx:.2f} s after the kill")
            return lease, takeover, first_2xx
        finally:
            for process in nats:
                process.kill()


def main():
    if not os.path.exists(GUICHET):
        sys.exit("build it first: cargo build --release -p guichet-gateway")
    results = [one_run(run) for run in range(1, RUNS + 1)]
    print(f"{RUNS} runs, lease {LEASE_MS} ms, {os.cpu_count()} cores:")
    for name, values in zip(["kill -> lease taken", "lease -> serving", "kill -> first 2xx"], zip(*results)):
        print(f"  {name}: median {statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})")


main()
