#!/usr/bin/env bash
# The dashboard's Stripe side, as a person sees it in headless Chromium: `up` reporting to the
# fake Stripe (tests/fakes/fake-stripe, a real HTTP server), a tenant on the free plan with a
# Stripe customer at 96 % of its api_calls. The upgrade banner carries a link to checkout (the
# plan pro, which has a Stripe price), and the billing panel shows Stripe reachable (the breaker).
# A screenshot is kept beside the binary (dashboard-billing.png).
set -uo pipefail
BIN=$1
OUT_DIR=$(cd "$(dirname "$BIN")/.." && pwd)
FAKE="$OUT_DIR/tests/fakes/fake-stripe"
WORK=$(mktemp -d)
UP_PID=
FAKE_PID=
cleanup() {
    [[ -n "$UP_PID" ]] && kill -9 "$UP_PID" 2>/dev/null
    [[ -n "$FAKE_PID" ]] && kill "$FAKE_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    echo "--- up stdout"; cat "$WORK/up.out" 2>/dev/null
    echo "--- up stderr"; tail -30 "$WORK/up.err" 2>/dev/null
    exit 1
}
CHROMIUM=$(command -v chromium || command -v chromium-browser) || fail "chromium is not installed"
[[ -x "$FAKE" ]] || fail "no fake-stripe at $FAKE"

"$FAKE" --secret-key sk_test_dashboard --meter mtr_api=api_calls >"$WORK/fake.out" 2>"$WORK/fake.err" &
FAKE_PID=$!
STRIPE=
for _ in $(seq 1 100); do
    STRIPE=$(head -1 "$WORK/fake.out" 2>/dev/null)
    [[ "$STRIPE" == http://127.0.0.1:* ]] && break
    sleep 0.1
done
[[ "$STRIPE" == http://127.0.0.1:* ]] || fail "fake-stripe printed no URL: $(cat "$WORK/fake.err")"

STRIPE_SECRET_KEY=sk_test_dashboard "$BIN" up --data-dir "$WORK/data" --listen 127.0.0.1:0 \
    --admin-key admin-billing --stripe-api-base "$STRIPE" --billing-interval 1s \
    >"$WORK/up.out" 2>"$WORK/up.err" &
UP_PID=$!
for _ in $(seq 1 300); do
    grep -q "Stop with Ctrl-C" "$WORK/up.out" 2>/dev/null && break
    sleep 0.1
done
URL=$(sed -n 's/^  dashboard: *\(http:[^#]*\)#key=.*/\1/p' "$WORK/up.out")
[[ "$URL" == http://127.0.0.1:* ]] || fail "up printed no dashboard URL"

"$BIN" account set --bootstrap-file "$WORK/data/bootstrap" --tenant upg --plan free \
    --api-key upg-key --stripe-customer cus_upg >/dev/null 2>"$WORK/cli.err" ||
    fail "account set: $(cat "$WORK/cli.err")"
for _ in $(seq 1 300); do
    curl -s -H "Authorization: Bearer admin-billing" "${URL}v1/admin/tenants" |
        grep -q '"tenant_id":"upg"' && break
    sleep 0.1
done
# free's api_calls limit is 1000: 960 is 96 %, the upgrade level. (free has no Stripe meter, so
# the panel says nothing was billed; the reports themselves are tested in billing_up_test.)
NOW=$(python3 -c 'import datetime; print(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))')
reply=$(curl -s -w '\n%{http_code}' -X POST -H "Authorization: Bearer admin-billing" \
    -H "Content-Type: application/json" \
    -d "{\"idempotency_key\":\"u1\",\"tenant_id\":\"upg\",\"meter\":\"api_calls\",\"quantity\":960,\"timestamp\":\"$NOW\"}" \
    "${URL}v1/events?wait=committed")
[[ "$reply" == *$'\n200' ]] || fail "POST /v1/events: $reply"
billing=$(curl -s -H "Authorization: Bearer upg-key" "${URL}v1/tenants/upg/billing")
[[ "$billing" == *'"enabled":true'* && "$billing" == *'"upgrade_plans":[{"id":"pro"'* ]] ||
    fail "billing API: $billing"

timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --user-data-dir="$WORK/profile-1" --window-size=1100,1100 --virtual-time-budget=6000 \
    --dump-dom "${URL}#key=upg-key" >"$WORK/dom.html" 2>>"$WORK/chromium.err" ||
    fail "chromium --dump-dom failed: $(tail -5 "$WORK/chromium.err")"
timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --user-data-dir="$WORK/profile-2" --window-size=1100,1100 --virtual-time-budget=6000 \
    --screenshot="$OUT_DIR/dashboard-billing.png" "${URL}#key=upg-key" >/dev/null \
    2>>"$WORK/chromium.err" || fail "chromium --screenshot failed"

python3 - "$WORK/dom.html" <<'PY' || fail "the page is not what the API says"
import re, sys
dom = open(sys.argv[1]).read()
assert 'data-loaded="true"' in dom, "the page never loaded its data"
banner = re.search(r'<div id="banner" class="banner upgrade"[^>]*>(.*?)</div>', dom, re.S)
assert banner, "no upgrade banner at 96 %"
assert "96" in banner.group(1), banner.group(1)
link = re.search(r'<a id="upgrade-link" href="#upgrade" data-plan="pro">([^<]*)</a>', banner.group(1))
assert link, "no upgrade link in the banner: " + banner.group(1)
assert "Upgrade to Pro" in link.group(1), link.group(1)
assert '<section id="billing"' in dom and 'id="billing" hidden' not in dom, "billing panel hidden"
assert "Stripe reachable" in dom, "the panel does not show the breaker closed"
print("banner:", re.sub("<[^>]+>", "", banner.group(1)).strip())
PY
echo "ok: upgrade link to checkout at 96 %; screenshot $OUT_DIR/dashboard-billing.png"
