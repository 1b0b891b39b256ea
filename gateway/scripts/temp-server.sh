# shellcheck shell=bash
# Sourced by gateway/fuzz/run.sh and gateway/e2e/run.sh: the checkout's own
# `guichet serve` on a free port of 127.0.0.1, with a temporary data
# directory and a random admin token, stopped when the script exits.
#
# temp_server_start TAG NAME [ARG...]
#   Builds `guichet`, starts a copy of it named NAME with `serve` and the
#   ARGs, and waits until it says where it listens. Sets SERVER_DIR (a
#   temporary directory, removed on exit, with the data directory `data`
#   and the server's `stdout` and `stderr`), ADMIN_TOKEN, SERVER_PID and
#   URL. TAG begins every line it prints ("fuzz", "e2e").
# temp_server_check TAG WHEN
#   Fails, saying so, if the server has stopped (WHEN: "during the run").
# temp_server_log TAG [LINES]
#   Prints the server's log, or only its last LINES lines.

TEMP_SERVER_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SERVER_DIR=""
SERVER_PID=""

temp_server_cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "$SERVER_DIR" ]; then
        rm -rf "$SERVER_DIR"
    fi
}

temp_server_start() {
    local tag=$1 name=$2
    shift 2
    (cd "$TEMP_SERVER_ROOT" && cargo build -p guichet-gateway --bin guichet)
    SERVER_DIR=$(mktemp -d)
    trap temp_server_cleanup EXIT
    ADMIN_TOKEN="$tag-admin-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
    # Run from a copy with a name of its own: on a machine shared with other
    # work (load tests, benchmarks), whatever stops stray `guichet`
    # processes must not stop this one mid-run.
    cp "$TEMP_SERVER_ROOT/target/debug/guichet" "$SERVER_DIR/$name"
    GUICHET_ADMIN_TOKEN="$ADMIN_TOKEN" GUICHET_LOG=warn \
        "$SERVER_DIR/$name" serve --listen 127.0.0.1:0 --data-dir "$SERVER_DIR/data" --enable-test-provider "$@" \
        >"$SERVER_DIR/stdout" 2>"$SERVER_DIR/stderr" &
    SERVER_PID=$!
    URL=""
    for _ in $(seq 1 100); do
        URL=$(sed -n 's/^listening on //p' "$SERVER_DIR/stdout" | head -1)
        [ -n "$URL" ] && break
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "$tag: the server did not start:" >&2
            cat "$SERVER_DIR/stderr" >&2
            exit 1
        fi
        sleep 0.1
    done
    [ -n "$URL" ] || { echo "$tag: the server did not say where it listens" >&2; exit 1; }
    echo "$tag: server at $URL"
}

temp_server_check() {
    local tag=$1 when=$2 code=0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        return 0
    fi
    wait "$SERVER_PID" || code=$?
    SERVER_PID=""
    echo "$tag: the server stopped $when (exit status $code; over 128 is a signal)" >&2
    return 1
}

temp_server_log() {
    local tag=$1 lines=${2:-}
    if [ -s "$SERVER_DIR/stderr" ]; then
        echo "$tag: server log:"
        if [ -n "$lines" ]; then tail -n "$lines" "$SERVER_DIR/stderr"; else cat "$SERVER_DIR/stderr"; fi
    fi
}
