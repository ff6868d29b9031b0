#!/usr/bin/env bash
# The Go SDK (producers/go) against a real `usage-ledger up`: its unit tests (every shared test
# vector) and go vet, then 10,000 events from three tenants (each with its own API key) through
# tests/support/flaky_proxy.py, which loses every 7th answer after the ledger committed the
# request, plus every 20th event sent again on purpose with the same key. The usage the API
# reports must equal the sums the load program computed on its own (each event counted once),
# and the proxy must have dropped answers (so the retries really happened).
# Go: Debian 12's golang-go (1.19) or newer (ops/install-deps); the module's dependencies come
# from the Go module proxy into ${UL_GO_CACHE:-$HOME/.cache/usage-ledger/go}, checked against
# the committed go.sum (-mod=readonly).
set -uo pipefail
BIN=$1
SRC=$2
WORK=$(mktemp -d)
UP_PID=
PROXY_PID=
ADMIN=admin-sdk-go-key-0123456789
TENANTS=(acme globex initech)
# shellcheck source=../support/up_test_lib.sh
source "$SRC/tests/support/up_test_lib.sh"

cleanup() {
    [[ -n "$PROXY_PID" ]] && kill -9 "$PROXY_PID" 2>/dev/null
    [[ -n "$UP_PID" ]] && kill -9 "$UP_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    for log in mismatch up.err proxy.err load.err; do
        [[ -s "$WORK/$log" ]] && { echo "--- $log"; tail -20 "$WORK/$log"; }
    done
    exit 1
}

command -v go >/dev/null || fail "no go command (./ops/install-deps installs Debian's golang-go)"
export GOPATH=${UL_GO_CACHE:-$HOME/.cache/usage-ledger/go}
export GOCACHE=$GOPATH/build GOMODCACHE=$GOPATH/pkg/mod GOFLAGS=-mod=readonly GOTOOLCHAIN=local
cd "$SRC/producers/go" || fail "no producers/go"
echo "$(go version)"
go vet ./... >"$WORK/vet.out" 2>&1 || fail "go vet: $(cat "$WORK/vet.out")"
go test -count=1 ./... >"$WORK/test.out" 2>&1 || fail "go test: $(tail -40 "$WORK/test.out")"
grep '^ok' "$WORK/test.out"
go build -o "$WORK/e2eload" ./internal/e2eload 2>"$WORK/build.err" || fail "build: $(cat "$WORK/build.err")"

"$BIN" up --data-dir "$WORK/data" --listen 127.0.0.1:0 --admin-key "$ADMIN" \
    >"$WORK/up.out" 2>"$WORK/up.err" &
UP_PID=$!
URL=$(up_dashboard_url "$UP_PID" "$WORK/up.out" 120) || fail "$URL"
TARGET=${URL#http://}
TARGET=${TARGET%/}

pairs=()
for tenant in "${TENANTS[@]}"; do
    "$BIN" account set --bootstrap-file "$WORK/data/bootstrap" --tenant "$tenant" --plan pro \
        --api-key "key-$tenant-0123456789" >/dev/null 2>"$WORK/cli.err" ||
        fail "account set: $(cat "$WORK/cli.err")"
    pairs+=("$tenant=key-$tenant-0123456789")
done
key_works() { curl -sf -H "Authorization: Bearer key-$1-0123456789" "${URL}v1/whoami"; }
for tenant in "${TENANTS[@]}"; do
    poll 60 "the API key of $tenant working" key_works "$tenant"
done

python3 "$SRC/tests/support/flaky_proxy.py" --target "$TARGET" --drop-every 7 --seed 18 \
    --port-file "$WORK/proxy.port" 2>"$WORK/proxy.err" &
PROXY_PID=$!
poll 30 "the proxy listening" test -s "$WORK/proxy.port"
PROXY=$(head -1 "$WORK/proxy.port")

TENANT_KEYS=$(IFS=,; echo "${pairs[*]}")
"$WORK/e2eload" -base "http://$PROXY" -tenants "$TENANT_KEYS" -events 10000 -resend-every 20 \
    -seed 18 >"$WORK/expected.json" 2>"$WORK/load.err" || fail "the load program failed"

kill -TERM "$PROXY_PID"
wait "$PROXY_PID"
PROXY_PID=
dropped=$(grep -o 'dropped [0-9]*' "$WORK/proxy.err" | grep -o '[0-9]*')
[[ -n "$dropped" && "$dropped" -gt 0 ]] || fail "the proxy dropped no answers: $(cat "$WORK/proxy.err")"

# usage_matches TENANT: the API's month usage (at the events' timestamp) equals the expected
# sum and count of every meter the load program used.
usage_matches() {
    local at
    at=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["at"])' "$WORK/expected.json")
    curl -sf -H "Authorization: Bearer $ADMIN" "${URL}v1/tenants/$1/usage?at=$at" >"$WORK/usage-$1.json" ||
        return 1
    python3 - "$WORK/expected.json" "$WORK/usage-$1.json" "$1" 2>"$WORK/mismatch" <<'PY'
import json, sys
expected = json.load(open(sys.argv[1]))["usage"][sys.argv[3]]
answer = {m["meter"]: m for m in json.load(open(sys.argv[2]))["meters"]}
for meter, want in expected.items():
    got = answer.get(meter, {})
    if got.get("used") != want["used"] or got.get("count") != want["count"]:
        sys.exit(f"{meter}: used {got.get('used')} count {got.get('count')}, want {want}")
PY
}
for tenant in "${TENANTS[@]}"; do
    usage_matches "$tenant" ||
        poll 120 "usage of $tenant to equal the expected sums" usage_matches "$tenant"
done
"$BIN" verify --data-dir "$WORK/data" >/dev/null 2>"$WORK/verify.err" || fail "verify: $(cat "$WORK/verify.err")"

kill -INT "$UP_PID"
deadline=$((SECONDS + 30))
while kill -0 "$UP_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
kill -0 "$UP_PID" 2>/dev/null && fail "up did not stop on SIGINT"
wait "$UP_PID"
status=$?
UP_PID=
[[ $status -eq 0 ]] || fail "up exited $status"
retried=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["retried"])' "$WORK/expected.json")
echo "ok: 10000 events (+500 sent twice) from ${#TENANTS[@]} tenants counted once;" \
    "the proxy dropped $dropped answers, $retried events were retried"
