"""The peers table from the `result` lines of bench/peers/*.sh (tab-separated:
result, name, requests per cycle, cycles/s, p99 in ms, server CPU per
request in µs, server's core busy %, others %), read from the file in argv[1]:
per row, the median and range over the passes; then Guichet's cycles/s over
each peer's (medians)."""
import statistics
import sys

# name: (row, what a request is, what the p99 is of)
LABELS = {
    "guichet": ("Guichet, GA, HTTP: POST hold of 2 + DELETE, fdatasync each",
                "an HTTP request (hold or release)", "an HTTP request"),
    "redis-cycle": ("Redis, Lua: hold 2 (ZPOPMIN) + release in one EVALSHA, appendfsync always",
                    "an EVALSHA (a cycle)", "an EVALSHA (a cycle)"),
    "redis-two-calls": ("Redis, Lua: hold 2, then release, two EVALSHAs, appendfsync always",
                        "an EVALSHA (hold or release)", "an EVALSHA"),
    "postgres": ("PostgreSQL, hold 2 SKIP LOCKED, then release, 2 commits, synchronous_commit on",
                 "a statement, its own transaction (hold or release)", "a cycle (2 transactions)"),
    "hello-world": ("bare hyper hello-world, no work (yardstick: 2 requests counted as a cycle)",
                    "an HTTP request", "an HTTP request"),
}

rows = {}
for line in open(sys.argv[1]):
    fields = line.rstrip("\n").split("\t")
    if fields[0] != "result":
        continue
    name, calls = fields[1], int(fields[2])
    rate, p99, cpu, busy, others = map(float, fields[3:8])
    rows.setdefault(name, {"calls": calls, "runs": []})["runs"].append((rate, p99, cpu, busy, others))


def spread(values, form):
    values = sorted(values)
    median = statistics.median(values)
    if len(values) == 1:
        return form.format(median)
    return f"{form.format(median)} ({form.format(values[0])}-{form.format(values[-1])})"


print("| | cycles/s | server CPU per request, µs | a request is | server CPU per cycle, µs | server core busy "
      "| p99 | the p99 is of | others | passes |")
print("| --- | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: |")
medians = {}
for name in LABELS:
    if name not in rows:
        continue
    label, request, p99_of = LABELS[name]
    calls, runs = rows[name]["calls"], rows[name]["runs"]
    rate, p99, cpu, busy, others = zip(*runs)
    medians[name] = statistics.median(rate)
    print(f"| {label} | {spread(rate, '{:,.0f}')} | {spread(cpu, '{:.1f}')} | {request} "
          f"| {statistics.median(cpu) * calls:.1f} | {spread(busy, '{:.0f}')} % | {spread(p99, '{:.2f}')} ms | {p99_of} "
          f"| {spread(others, '{:.0f}')} % | {len(runs)} |")
print()
print("Medians over the passes, ranges (lowest-highest) in brackets; CPU shares are of one core.")
PEERS = {"redis-cycle": "Redis, one EVALSHA a cycle", "redis-two-calls": "Redis, two EVALSHAs a cycle",
         "postgres": "PostgreSQL"}
for peer, label in PEERS.items():
    if "guichet" in medians and peer in medians:
        print(f"- cycles/s, Guichet / {label}: {medians['guichet'] / medians[peer]:.2f}")
