#!/usr/bin/env bash
# The peers in one sitting: Guichet (bench/peers/guichet.sh, with the bare
# hyper hello-world as the yardstick), Redis (redis.sh) and PostgreSQL
# (postgres.sh) each holding 2 seats and releasing them, durably, at 64
# clients, each server pinned to core 0 and its client to core 1, PASSES
# times (default 3) in turn, SECONDS_PER_RUN (default 10) a run. Prints each
# run's output, then the markdown table (table.py): cycles/s, p99, server CPU
# per call, the server's core busy, the rest of the machine's share, and
# Guichet's cycles/s over each peer's.
#
# A machine shared with other work: when "others" (every other process) took
# more than OTHERS_LIMIT_PERCENT (default 10) of a core during one of a
# script's runs, that script's pass is run again, up to twice, and the attempt
# where others took the least is kept.
#
# When wrk, redis-server or PostgreSQL is missing and this runs as root, it
# installs them with `apt-get install -y redis-server postgresql wrk`
# (Debian); the scripts themselves install nothing. Builds Guichet (release).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
passes=${PASSES:-3}
others_limit=${OTHERS_LIMIT_PERCENT:-10}
export SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}

missing=()
command -v wrk > /dev/null || missing+=(wrk)
command -v redis-benchmark > /dev/null || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/postgres" > /dev/null || missing+=(postgresql)
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get > /dev/null; then
    apt-get install -y "${missing[@]}"
  else
    echo "run.sh: needs ${missing[*]} (Debian: apt-get install -y ${missing[*]})" >&2
    exit 2
  fi
fi

# Every server keeps its data in a `mktemp -d` directory: on tmpfs an fsync
# would cost nothing and the figures would mean nothing.
filesystem=$(df --output=fstype "${TMPDIR:-/tmp}" | tail -1)
if [[ $filesystem == tmpfs ]]; then
  echo "run.sh: ${TMPDIR:-/tmp} is on tmpfs; set TMPDIR to a directory on a disk" >&2
  exit 2
fi

results=$(mktemp)
trap 'rm -f "$results" "$results.run" "$results.kept"' EXIT
for pass in $(seq "$passes"); do
  for script in guichet redis postgres; do
    quietest=
    for attempt in 1 2 3; do
      echo "=== pass $pass, $script.sh (attempt $attempt)"
      "$here/$script.sh" | tee "$results.run"
      busiest=$(awk -F'\t' '$1 == "result" && $8 > max { max = $8 } END { print max + 0 }' "$results.run")
      # The attempt kept is the one where others took the least.
      if [[ -z $quietest ]] || awk -v b="$busiest" -v q="$quietest" 'BEGIN { exit !(b < q) }'; then
        quietest=$busiest
        grep '^result' "$results.run" > "$results.kept"
      fi
      awk -v b="$busiest" -v l="$others_limit" 'BEGIN { exit !(b <= l) }' && break
      echo "=== others took $busiest % of a core"
    done
    cat "$results.kept" >> "$results"
  done
done
echo
echo "=== $passes passes, ${SECONDS_PER_RUN} s a run, $(nproc) cores, data on $filesystem, $(date -u +%Y-%m-%dT%H:%MZ)"
python3 "$here/table.py" "$results"
