#!/usr/bin/env bash
# The Stripe client's request shapes against stripe-mock (Stripe's own mock, which checks each
# request's path, method and form parameters against Stripe's OpenAPI spec): stripe-shapes
# (tests/tools/stripe_shapes.cpp) makes every StripeClient call once; each must answer 2xx
# ("ok NAME ...", five lines) and stripe-shapes must exit 0. stripe-mock is started by
# ops/stripe-mock (which installs it once) in a temp dir and stopped on exit.
# Usage: tests/e2e/stripe_mock.sh USAGE_LEDGER_BINARY [REPO_ROOT]
set -euo pipefail
UL=$(realpath "$1")
ROOT=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
STRIPE_MOCK="$ROOT/ops/stripe-mock"
# build/<config>/ops/usage-ledger -> build/<config>/tests/tools/stripe-shapes
SHAPES="$(dirname "$UL")/../tests/tools/stripe-shapes"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/stripe_mock.XXXXXX")
DIR="$WORK/stripe-mock"

cleanup() {
    local rc=$?
    "$STRIPE_MOCK" stop --dir "$DIR" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    if [[ -f $DIR/stripe-mock.log ]]; then
        echo "---- tail of stripe-mock.log" >&2
        tail -n 20 "$DIR/stripe-mock.log" >&2 || true
    fi
    exit 1
}

[[ -x $SHAPES ]] || fail "no stripe-shapes at $SHAPES (build the stripe-shapes target)"
SHAPES=$(realpath "$SHAPES")

"$STRIPE_MOCK" start --dir "$DIR" >"$WORK/start.out" 2>"$WORK/start.err" ||
    fail "ops/stripe-mock start failed: $(cat "$WORK/start.err")"
URL=$(cat "$DIR/url")
[[ $URL =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "ops/stripe-mock wrote no base URL to $DIR/url: '$URL'"
[[ $(tail -n 1 "$WORK/start.out") == "$URL" ]] || fail "ops/stripe-mock start printed '$(cat "$WORK/start.out")', not $URL"
echo "stripe-mock at $URL"

status=0
"$SHAPES" --api-base "$URL" >"$WORK/shapes.out" 2>"$WORK/shapes.err" || status=$?
cat "$WORK/shapes.out"
((status == 0)) || fail "stripe-shapes exited $status against stripe-mock: $(cat "$WORK/shapes.err")"
for call in create_meter_event list_meters meter_event_summaries create_checkout_session \
    create_portal_session; do
    grep -q "^ok $call " "$WORK/shapes.out" || fail "stripe-shapes printed no 'ok $call' line"
done
[[ $(grep -c '^ok ' "$WORK/shapes.out") == 5 ]] || fail "expected 5 ok lines from stripe-shapes"

PID=$(cat "$DIR/pid")
"$STRIPE_MOCK" stop --dir "$DIR" 2>"$WORK/stop.err" || fail "ops/stripe-mock stop failed: $(cat "$WORK/stop.err")"
[[ ! -f $DIR/pid ]] || fail "ops/stripe-mock stop left $DIR/pid"
state=$(sed 's/.*) //' "/proc/$PID/stat" 2>/dev/null | cut -d' ' -f1 || true)
[[ -z $state || $state == [ZX] ]] || fail "stripe-mock (pid $PID) still runs after stop (state $state)"
echo "PASS: every StripeClient request is one stripe-mock accepts"
