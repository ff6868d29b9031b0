#!/usr/bin/env bash
# The TypeScript SDK (producers/typescript) end to end: installs its pinned dependencies with
# `npm ci` and builds it with `npm run build` in a copy of the package (never in the source
# tree), runs its unit tests (every shared vector of schemas/test-vectors/events.json, and the
# client against a fake ledger), then starts `up`, sets three tenants' accounts and API keys,
# puts tests/support/flaky_proxy.py (--drop-every 7: every 7th answer is lost after the server
# acted on it) in front of it and sends 10,000 events (some twice on purpose, same key) through
# UsageClient via the proxy. Passes when every tenant's GET /v1/tenants/{t}/usage equals the sums
# the load program computed itself (exact decimals) and the proxy dropped at least one answer.
# Usage: sdk_typescript.sh BIN ROOT
set -uo pipefail
BIN=$1
ROOT=$2
# shellcheck source=tests/support/up_test_lib.sh
source "$ROOT/tests/support/up_test_lib.sh"
SDK_SRC=$ROOT/producers/typescript
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
    [[ -s "$WORK/up.out" ]] && { echo "--- up stdout"; cat "$WORK/up.out"; }
    [[ -s "$WORK/up.err" ]] && { echo "--- up stderr"; tail -30 "$WORK/up.err"; }
    [[ -s "$WORK/proxy.err" ]] && { echo "--- proxy stderr"; tail -5 "$WORK/proxy.err"; }
    exit 1
}
command -v node >/dev/null || fail "node is missing (ops/install-deps installs nodejs)"
command -v npm >/dev/null || fail "npm is missing (ops/install-deps installs it)"

# --- build and unit tests, in a copy of the package --------------------------------------------
SDK=$WORK/sdk
mkdir -p "$SDK"
cp -r "$SDK_SRC/package.json" "$SDK_SRC/package-lock.json" "$SDK_SRC/tsconfig.json" \
    "$SDK_SRC/src" "$SDK_SRC/test" "$SDK_SRC/examples" "$SDK"/
(cd "$SDK" && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1 ||
    fail "npm ci: $(tail -20 "$WORK/npm.log")"
(cd "$SDK" && npm run build) >"$WORK/build.log" 2>&1 || fail "npm run build: $(cat "$WORK/build.log")"
(cd "$SDK" && UL_TEST_VECTORS=$ROOT/schemas/test-vectors/events.json node --test test/*.test.mjs) \
    >"$WORK/unit.log" 2>&1 || { grep -B2 -A20 '^not ok' "$WORK/unit.log" | head -80; fail "unit tests"; }
grep -E '^# (tests|pass|fail)' "$WORK/unit.log" | tr '\n' ' '
echo
grep -q '^# fail 0$' "$WORK/unit.log" || fail "unit tests: $(grep '^# fail' "$WORK/unit.log")"

# --- up, accounts, proxy ----------------------------------------------------------------------
ADMIN=admin-sdk-ts
"$BIN" up --data-dir "$WORK/data" --listen 127.0.0.1:0 --admin-key "$ADMIN" \
    --rate-limit 100000 --rate-burst 100000 >"$WORK/up.out" 2>"$WORK/up.err" &
UP_PID=$!
URL=$(up_dashboard_url "$UP_PID" "$WORK/up.out" 120) || fail "$URL"
TENANTS=
for tenant in sdk-a sdk-b sdk-c; do
    "$BIN" account set --bootstrap-file "$WORK/data/bootstrap" --tenant "$tenant" --plan pro \
        --api-key "key-$tenant" >/dev/null 2>"$WORK/account.err" ||
        fail "account set $tenant: $(cat "$WORK/account.err")"
    TENANTS+=${TENANTS:+,}$tenant:key-$tenant
done
accounts_held() {
    local tenants
    tenants=$(curl -s -H "Authorization: Bearer $ADMIN" "${URL}v1/admin/tenants") || return 1
    [[ $tenants == *'"tenant_id":"sdk-a"'* && $tenants == *'"tenant_id":"sdk-b"'* &&
        $tenants == *'"tenant_id":"sdk-c"'* ]]
}
poll 60 "the projection holding the three accounts" accounts_held

# The example program, straight to `up` (another tenant, so the sums below stay the load's own).
node "$SDK/examples/record-usage.mjs" --url "$URL" --key "$ADMIN" --tenant sdk-example \
    --meter tokens --quantity 1500.25 >"$WORK/example.out" 2>&1 || fail "example: $(cat "$WORK/example.out")"
grep -q '"status":"accepted"' "$WORK/example.out" || fail "example: $(cat "$WORK/example.out")"
echo "example: $(cat "$WORK/example.out")"

TARGET=${URL#http://}
TARGET=${TARGET%/}
python3 "$ROOT/tests/support/flaky_proxy.py" --target "$TARGET" --drop-every 7 --seed 18 \
    --port-file "$WORK/proxy.port" 2>"$WORK/proxy.err" &
PROXY_PID=$!
proxy_listening() { [[ -s "$WORK/proxy.port" ]] || { kill -0 "$PROXY_PID" 2>/dev/null || fail "the proxy exited"; false; }; }
poll 30 "the proxy writing its port file" proxy_listening
PROXY_URL="http://$(head -1 "$WORK/proxy.port")/"

# --- 10,000 events through the SDK and the proxy ----------------------------------------------
node "$SDK/test/e2e-load.mjs" "$SDK" "$PROXY_URL" "$ADMIN" "$TENANTS" 10000 18 >"$WORK/load.log" 2>&1
load_status=$?
cat "$WORK/load.log"
[[ $load_status -eq 0 ]] || fail "the load run failed"

kill -TERM "$PROXY_PID"
wait "$PROXY_PID"
PROXY_PID=
dropped=$(grep -o 'dropped [0-9]*' "$WORK/proxy.err" | grep -o '[0-9]*')
[[ -n "$dropped" && "$dropped" -gt 0 ]] || fail "the proxy dropped no answer: $(cat "$WORK/proxy.err")"

# Stop `up` as a user would (Ctrl-C), so it is not killed mid-write.
kill -INT "$UP_PID"
up_stopped() { ! kill -0 "$UP_PID" 2>/dev/null; }
poll 60 "up stopping on SIGINT" up_stopped
wait "$UP_PID" 2>/dev/null
UP_PID=
echo "ok: $(tail -1 "$WORK/proxy.err")"
