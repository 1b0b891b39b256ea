#!/usr/bin/env bash
# The SMTP server the email tests send to: aiosmtpd (pinned in
# requirements.txt) in a virtual environment under target/smtp/ (made by
# ../python-venv.sh). Prints the environment's python. Fails loudly: the
# email tests never skip.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VENV=$(bash "$HERE/../python-venv.sh" smtp)
"$VENV/bin/python" -c 'import aiosmtpd' >&2
echo "$VENV/bin/python"
