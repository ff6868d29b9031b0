#!/usr/bin/env bash
# Prepaid credits (issue 14), on a real `usage-ledger up`. A tenant on a plan with a monthly
# allowance of 100 credits (rollover cap 30), billed on day D of the month in America/New_York
# (D chosen so that the month began a few days ago: its start B is the local midnight of the
# D-th). In ledger order:
#   - burns before B use the old month's allowance; the first entry at B replaces it with
#     100 + min(left, 30) (the reset at the tenant's billing anchor in its time zone);
#   - admin grants of different priorities and expiries (POST …/credits/grants; a retried key
#     grants once) burn by priority, then earliest expiry, then oldest, to the micro-credit;
#   - a soft meter burns what there is and the rest is uncovered; a hard meter's consume is 429
#     insufficient_credits when the wallet cannot cover it (never below zero);
#   - GET …/credits equals an independent computation (tests/support/wallet_model.py) before and
#     after a restart, and `replay --verify` rebuilds the same wallet and transactions.
# Usage: credits.sh BIN ROOT
set -uo pipefail
BIN=$1
ROOT=$2
# shellcheck source=tests/support/up_test_lib.sh
source "$ROOT/tests/support/up_test_lib.sh"
MODEL=$ROOT/tests/support/wallet_model.py
e2e_begin
fail() {
    [[ -s "$WORK/model.err" ]] && { echo "--- GET credits against the model"; cat "$WORK/model.err"; }
    up_failure "$@"
}

cat >"$WORK/plans.json" <<'JSON'
{"currency":"usd","default_plan":"free","plans":[
  {"id":"free","name":"Free","meters":{"api_calls":{"limit":"1000"}}},
  {"id":"pro","name":"Pro","monthly_credits":"100","rollover_cap":"30","meters":{
     "tokens":{"limit":null,"credits_per_unit":"0.001"},
     "renders":{"limit":null,"enforcement":"hard","credits_per_unit":"2.5"}}}]}
JSON
ADMIN=admin-credits
KEY=wal-a-key
start_up() { up_start --config "$WORK/plans.json" --admin-key "$ADMIN"; }
# The anchor day and the month's start B (UTC, RFC 3339), a few days ago.
read -r ANCHOR B < <(python3 "$MODEL" anchor America/New_York) || fail "no anchor"
echo "billing anchor day $ANCHOR in America/New_York: this month began at $B"
start_up
"$BIN" account set --bootstrap-file "$WORK/data/bootstrap" --tenant wal-a --plan pro \
    --billing-anchor-day "$ANCHOR" --time-zone America/New_York --api-key "$KEY" \
    --config "$WORK/plans.json" >/dev/null 2>"$WORK/cli.err" || fail "account set: $(cat "$WORK/cli.err")"
account_held() {
    curl -s -H "Authorization: Bearer $ADMIN" "$URL/v1/admin/tenants" | grep -q '"tenant_id":"wal-a"'
}
poll 60 "the projection holding the account" account_held

at() { python3 "$MODEL" shift "$B" "$1"; }  # B shifted by SECONDS (may be negative)
# send KEY METER QUANTITY TIME: one event, wait=committed; its verdict must be accepted.
send() {
    local answer
    answer=$(curl -s -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
        -d "{\"idempotency_key\":\"$1\",\"tenant_id\":\"wal-a\",\"meter\":\"$2\",\"quantity\":\"$3\",\"timestamp\":\"$4\"}" \
        "$URL/v1/events?wait=committed")
    [[ $answer == *'"status":"accepted"'* ]] || fail "event $1 answered $answer"
    echo "burn $4 $2 $3" >>"$WORK/ops"
}
# grant KEY AMOUNT PRIORITY [EXPIRES]: an admin grant; must answer 201 (and 200 when repeated).
grant() {
    local body="{\"amount\":\"$2\",\"priority\":$3,\"source\":\"admin\",\"idempotency_key\":\"$1\"${4:+,\"expires_at\":\"$4\"}}"
    local status
    for expected in 201 200; do
        status=$(curl -s -o "$WORK/grant.body" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
            -H "Content-Type: application/json" -d "$body" "$URL/v1/tenants/wal-a/credits/grants")
        [[ $status == "$expected" ]] || fail "grant $1 answered $status (expected $expected): $(cat "$WORK/grant.body")"
    done
    echo "grant $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["grant_id"])' "$WORK/grant.body") $2 $3 ${4:--} $(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)" >>"$WORK/ops"
}
: >"$WORK/ops"
# Last month: 100 credits of allowance.
send t1 tokens 60000 "$(at -7200)"            # 60
send t2 tokens 5000.5 "$(at -3600)"           # 5.0005
send t3 tokens 1000 "$(at -1)"                # 1: still last month, one second before B
# This month, from B: 100 + min(33.9995, 30).
send t4 tokens 1000 "$B"
# Grants: priority 1 expiring soon, priority 1 expiring later, priority 5 without expiry.
SOON=$(python3 -c 'import datetime; print((datetime.datetime.now(datetime.timezone.utc)+datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
LATER=$(python3 -c 'import datetime; print((datetime.datetime.now(datetime.timezone.utc)+datetime.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
grant g-p5 50 5
grant g-p1-later 7 1 "$LATER"
grant g-p1-soon 10.25 1 "$SOON"
send r1 renders 3 "$(at 3600)"                # 7.5, from the allowance
send t5 tokens 200000 "$(at 7200)"            # 200: the allowance, then p1 soon, p1 later, p5
# A hard meter the wallet cannot cover: refused, nothing taken.
consume() {
    curl -s -o "$WORK/consume.body" -w '%{http_code}' -H "Authorization: Bearer $KEY" \
        -H "Content-Type: application/json" \
        -d "{\"meter\":\"renders\",\"quantity\":\"$1\",\"idempotency_key\":\"$2\"}" \
        "$URL/v1/tenants/wal-a/consume"
}
status=$(consume 1 c1)
[[ $status == 429 ]] || fail "consume of 2.5 credits with a balance of 0 answered $status: $(cat "$WORK/consume.body")"
grep -q '"error":"insufficient_credits"' "$WORK/consume.body" || fail "429 body: $(cat "$WORK/consume.body")"
grant g-p2 5 2
status=$(consume 2 c2)
[[ $status == 200 ]] || fail "consume of 5 credits with a balance of 5 answered $status: $(cat "$WORK/consume.body")"
echo "burn-now renders 2" >>"$WORK/ops"
grep -q '"balance":"0"' "$WORK/consume.body" || fail "consume body: $(cat "$WORK/consume.body")"
echo "ok: a hard meter is refused past the balance (429) and accepted when covered"

# GET …/credits against the model.
check_credits() {
    curl -s -H "Authorization: Bearer $KEY" "$URL/v1/tenants/wal-a/credits" >"$WORK/credits.json"
    python3 "$MODEL" check "$WORK/plans.json" pro "$B" "$WORK/ops" "$WORK/credits.json" 2>"$WORK/model.err"
}
poll 30 "GET credits equal to the model" check_credits
echo "ok: GET credits equals the model: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["balance"])' "$WORK/credits.json") left"

# The dashboard shows the balance and the grants.
dashboard_dom "$URL/#key=$KEY" "$WORK/dashboard.html"
python3 - "$WORK/dashboard.html" "$WORK/credits.json" <<'PY' || fail "the dashboard's credits panel: $(grep -o '<section id="credits".*</section>' "$WORK/dashboard.html" | head -c 2000)"
import json, re, sys
dom, wallet = open(sys.argv[1]).read(), json.load(open(sys.argv[2]))
panel = re.search(r'<section id="credits"([^>]*)>(.*?)</section>', dom, re.S)
assert panel and "hidden" not in panel.group(1), "the credits panel is hidden"
assert f'<b id="credit-balance">{wallet["balance"]}</b>' in panel.group(2), "balance"
for grant in wallet["grants"]:
    name = "monthly allowance" if grant["allowance"] else grant["grant_id"]
    assert name in panel.group(2) and f'{grant["remaining"]} / {grant["amount"]}' in panel.group(2), name
PY
echo "ok: the dashboard shows the balance and the grants"

stop_up
start_up
check_credits || fail "after a restart, GET credits differs from the model"
stop_up
"$BIN" replay --ledger-dir "$WORK/data" --out "$WORK/rebuilt" --verify "$WORK/data" \
    --config "$WORK/plans.json" >"$WORK/replay.out" 2>"$WORK/replay.err" ||
    fail "replay --verify: $(cat "$WORK/replay.out" "$WORK/replay.err" | tail -20)"
python3 - "$WORK/replay.out" <<'PY' || fail "replay: $(cat "$WORK/replay.out")"
import json, sys
verify = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["verify"]
assert verify["differences"] == 0 and verify["rows_compared"] > 0, verify
PY
echo "ok: replay rebuilds the same wallet and transactions ($(tail -1 "$WORK/replay.out"))"
echo "PASS"
