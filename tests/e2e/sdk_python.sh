#!/usr/bin/env bash
# The Python SDK (producers/python) against a real `usage-ledger up`, through a proxy that loses
# every 7th answer after the server acted on it (tests/support/flaky_proxy.py): the SDK retries
# with the same idempotency keys, and the ledger must count each event once. Runs the SDK's unit
# tests first (every shared vector of schemas/test-vectors/events.json, the client against a
# fake ledger). Then 10,000 events for three tenants (5 % sent twice on purpose), and GET
# /v1/tenants/{t}/usage must equal the driver's own exact sum; the proxy must have dropped > 0.
# The SDK runs from the source tree (PYTHONPATH), with Debian's /usr/bin/python3 when present.
# Usage: sdk_python.sh BIN ROOT
set -uo pipefail
BIN=$1
ROOT=$2
# shellcheck source=tests/support/up_test_lib.sh
source "$ROOT/tests/support/up_test_lib.sh"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)
SDK=$ROOT/producers/python
export PYTHONPATH=$SDK/src:$SDK PYTHONDONTWRITEBYTECODE=1
WORK=$(mktemp -d)
UP_PID=
PROXY_PID=
cleanup() {
    [[ -n "$PROXY_PID" ]] && kill -9 "$PROXY_PID" 2>/dev/null
    [[ -n "$UP_PID" ]] && kill -9 "$UP_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    echo "--- up stdout"; cat "$WORK/up.out" 2>/dev/null
    echo "--- up stderr"; tail -30 "$WORK/up.err" 2>/dev/null
    echo "--- proxy stderr"; tail -5 "$WORK/proxy.err" 2>/dev/null
    exit 1
}

# --- unit tests (vectors, client) ------------------------------------------------------------
"$PY" -m unittest discover -s "$SDK/tests" -t "$SDK" >"$WORK/unit.log" 2>&1 ||
    fail "unit tests: $(tail -40 "$WORK/unit.log")"
echo "unit tests: $(tail -1 "$WORK/unit.log")"
"$PY" -c 'import usage_ledger as ul; assert ul.HAVE_XXHASH' 2>/dev/null ||
    echo "note: no xxhash module for $PY: the payload-hash vectors were skipped (apt install python3-xxhash)"

# --- a ledger, three tenants, the proxy --------------------------------------------------------
ADMIN=admin-sdk-python
"$BIN" up --data-dir "$WORK/data" --listen 127.0.0.1:0 --admin-key "$ADMIN" \
    --rate-limit 10000 --rate-burst 10000 >"$WORK/up.out" 2>"$WORK/up.err" &
UP_PID=$!
URL=$(up_dashboard_url "$UP_PID" "$WORK/up.out" 120) || fail "$URL"
URL=${URL%/}
TENANTS=()
for tenant in sdk-a sdk-b sdk-c; do
    "$BIN" account set --bootstrap-file "$WORK/data/bootstrap" --tenant "$tenant" --plan pro \
        --api-key "$tenant-key" >/dev/null 2>"$WORK/cli.err" || fail "account set: $(cat "$WORK/cli.err")"
    TENANTS+=(--tenant "$tenant=$tenant-key")
done
accounts_held() {
    local tenants
    tenants=$(curl -s -H "Authorization: Bearer $ADMIN" "$URL/v1/admin/tenants")
    [[ $tenants == *'"tenant_id":"sdk-a"'* && $tenants == *'"tenant_id":"sdk-b"'* &&
        $tenants == *'"tenant_id":"sdk-c"'* ]]
}
poll 60 "the projection holding the three accounts" accounts_held

"$PY" "$ROOT/tests/support/flaky_proxy.py" --target "${URL#http://}" --drop-every 7 --seed 7 \
    --port-file "$WORK/proxy.port" 2>"$WORK/proxy.err" &
PROXY_PID=$!
poll 30 "the proxy's port file" test -s "$WORK/proxy.port"
PROXY=http://$(head -1 "$WORK/proxy.port")

# --- 10,000 events through the SDK via the proxy -----------------------------------------------
"$PY" "$SDK/tests/e2e_send.py" --url "$PROXY" --direct-url "$URL" "${TENANTS[@]}" --events 10000 \
    >"$WORK/send.out" 2>"$WORK/send.err" || fail "e2e_send: $(tail -20 "$WORK/send.err")"

kill -TERM "$PROXY_PID"
wait "$PROXY_PID"
PROXY_PID=
dropped=$(grep -o 'dropped [0-9]*' "$WORK/proxy.err" | grep -o '[0-9]*')
[[ -n $dropped && $dropped -gt 0 ]] || fail "the proxy dropped no answers: $(cat "$WORK/proxy.err")"

# --- up stops cleanly, and the ledger it leaves verifies ----------------------------------------
stop_up
"$BIN" verify --data-dir "$WORK/data" >"$WORK/verify.out" 2>&1 || fail "verify: $(tail -5 "$WORK/verify.out")"
echo "ok: $(grep -o 'seed [0-9]*' "$WORK/send.err"), proxy $(grep -o 'dropped.*' "$WORK/proxy.err"); $(cat "$WORK/send.out")"
