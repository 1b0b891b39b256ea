#!/usr/bin/env bash
# Checks the Prometheus alert rules: their syntax (`promtool check rules`) and
# their behaviour on made-up series (`promtool test rules`). promtool comes
# from Debian's `prometheus` package, unpacked under target/tools/ rather than
# installed, so that no Prometheus server is started on the machine.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

promtool=${PROMTOOL:-$(command -v promtool || true)}
if [ -z "$promtool" ]; then
    tools="$ROOT/target/tools/prometheus"
    promtool="$tools/usr/bin/promtool"
    if [ ! -x "$promtool" ]; then
        mkdir -p "$tools"
        (cd "$tools" && { apt-get download prometheus >/dev/null 2>&1 \
            || { as_root apt-get update -qq && apt-get download prometheus >/dev/null; }; })
        dpkg-deb -x "$tools"/prometheus_*.deb "$tools"
        rm -f "$tools"/prometheus_*.deb
    fi
fi
"$promtool" --version | head -1
"$promtool" check rules alerts.yml
"$promtool" test rules alerts.test.yml
python3 -c 'import json, sys; json.load(open("grafana-dashboard.json")); print("grafana-dashboard.json: valid JSON")'
