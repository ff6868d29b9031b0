#!/usr/bin/env bash
# A new user's path: `up` starts broker + ledger, `emit` sends events, `stats` shows them at once,
# `verify` passes, Ctrl-C stops it cleanly.
set -uo pipefail
BIN=$1
WORK=$(mktemp -d)
UP_PID=
cleanup() {
    [[ -n "$UP_PID" ]] && kill -9 "$UP_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    echo "--- up stdout"; cat "$WORK/up.out"; echo "--- up stderr"; tail -20 "$WORK/up.err"
    exit 1
}

"$BIN" up --data-dir "$WORK/data" --listen 127.0.0.1:0 >"$WORK/up.out" 2>"$WORK/up.err" &
UP_PID=$!
for _ in $(seq 1 300); do
    grep -q "Stop with Ctrl-C" "$WORK/up.out" 2>/dev/null && break
    sleep 0.1
done
grep -q "embedded Kafka: 127.0.0.1:" "$WORK/up.out" || fail "up did not say where it listens"
[[ -s "$WORK/data/bootstrap" ]] || fail "up did not write data/bootstrap"

# The same event twice (same key, same payload): accepted once, then a duplicate. (Without
# --timestamp each emit would stamp "now", and the second would rightly be a conflict.)
WHEN=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for attempt in first second; do
    "$BIN" emit --bootstrap-file "$WORK/data/bootstrap" --tenant acme --meter tokens \
        --quantity 1500 --key req-1 --timestamp "$WHEN" >/dev/null 2>>"$WORK/emit.err" ||
        fail "$attempt emit failed: $(cat "$WORK/emit.err")"
done

stats=
for _ in $(seq 1 600); do
    stats=$("$BIN" stats --data-dir "$WORK/data" 2>/dev/null)
    [[ "$stats" == *'"consumed":2,'* ]] && break
    sleep 0.1
done
[[ "$stats" == *'"consumed":2,"accepted":1,"duplicate":1,'* ]] || fail "stats: $stats"
"$BIN" verify --data-dir "$WORK/data" >/dev/null || fail "verify failed"

kill -INT "$UP_PID"
for _ in $(seq 1 300); do
    kill -0 "$UP_PID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$UP_PID" 2>/dev/null; then
    fail "up did not stop on SIGINT"
fi
wait "$UP_PID"
status=$?
UP_PID=
[[ $status -eq 0 ]] || fail "up exited $status"
echo "ok: $stats"
