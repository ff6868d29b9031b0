#!/usr/bin/env bash
# Every route of schemas/openapi.yaml answers what the spec says: starts `up` (an admin key, a
# rate limit high enough not to get in the way; Stripe billing against tests/fakes/fake-stripe and
# a webhook secret, so the billing routes answer) on a temp data dir, creates an account with
# `account set`, sends events, then calls every operation of the spec at least once with a
# request that succeeds, plus error cases (400, 401, 403, 404, 409), and checks each real answer
# (its status is declared, its Content-Type is, its body validates against the schema: $refs
# resolved, nullable honoured, date-times checked) with tests/support/openapi_check.py.
# Operations this setup cannot reach successfully are listed below in UNCOVERED with the reason;
# the coverage check fails if any other operation lacks a checked 2xx answer.
# Usage: openapi_responses.sh BIN ROOT
set -uo pipefail
BIN=$1
ROOT=$2
# shellcheck source=tests/support/up_test_lib.sh
source "$ROOT/tests/support/up_test_lib.sh"
SPEC=$ROOT/schemas/openapi.yaml
CHECK=$ROOT/tests/support/openapi_check.py
FAKE="$(cd "$(dirname "$BIN")/.." && pwd)/tests/fakes/fake-stripe"
WORK=$(mktemp -d)
UP_PID=
FAKE_PID=
cleanup() {
    [[ -n "$UP_PID" ]] && kill -9 "$UP_PID" 2>/dev/null
    [[ -n "$FAKE_PID" ]] && { kill -9 "$FAKE_PID" && wait "$FAKE_PID"; } 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    [[ -s "$WORK/failures.log" ]] && { echo "--- answers that do not match the spec"; cat "$WORK/failures.log"; }
    echo "--- up stdout"; cat "$WORK/up.out"; echo "--- up stderr"; tail -30 "$WORK/up.err"
    exit 1
}
ADMIN=admin-openapi
KEY=acme-openapi-key

# Operations no request here can answer with a 2xx are listed, one line each, as
#   echo "uncovered METHOD PATH the reason" >>"$WORK/coverage.log"
# and printed by the coverage check (never skipped silently). None today: the fake Stripe and
# the webhook secret let the billing and webhook routes succeed too.
: >"$WORK/coverage.log"
: >"$WORK/failures.log"

# call EXPECTED METHOD TEMPLATE PATH [curl args…]: sends the request, checks the answer against
# the spec's TEMPLATE operation, records it, fails unless its status matches EXPECTED (an
# extended regex such as 200 or '200|409'). The body is left in $WORK/body, the status in STATUS.
call() {
    local expected=$1 method=$2 template=$3 path=$4
    shift 4
    local meta
    meta=$(curl -s -X "$method" -o "$WORK/body" -w '%{http_code} %{content_type}' "$@" \
        "${URL%/}$path") || fail "$method $path: curl failed"
    STATUS=${meta%% *}
    local content_type=${meta#* }
    [[ "$STATUS" =~ ^($expected)$ ]] ||
        fail "$method $path answered $STATUS, expected $expected: $(head -c 600 "$WORK/body")"
    echo "checked $method $template $STATUS" >>"$WORK/coverage.log"
    if ! python3 "$CHECK" "$SPEC" check "$method" "$template" "$STATUS" "$content_type" \
        "$WORK/body" >>"$WORK/failures.log"; then
        echo "  (request: $method $path)" >>"$WORK/failures.log"
    fi
}
admin() { call "$@" -H "Authorization: Bearer $ADMIN"; }
tenant() { call "$@" -H "Authorization: Bearer $KEY"; }
json() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); exec("print(" + sys.argv[2] + ")")' "$WORK/body" "$1"; }
poll() {  # seconds description command…: until the command succeeds
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@"; do
        ((SECONDS < deadline)) || fail "$what not within the deadline"
        sleep 0.2
    done
}

[[ -x "$FAKE" ]] || fail "no fake-stripe at $FAKE (built with the tests)"
"$FAKE" --secret-key sk_test_openapi --meter mtr_api=api_calls >"$WORK/fake.out" 2>"$WORK/fake.err" &
FAKE_PID=$!
deadline=$((SECONDS + 30))
until [[ "$(head -1 "$WORK/fake.out" 2>/dev/null)" == http://127.0.0.1:* ]]; do
    kill -0 "$FAKE_PID" 2>/dev/null || fail "fake-stripe exited: $(cat "$WORK/fake.err")"
    ((SECONDS < deadline)) || fail "fake-stripe printed no URL within 30 s"
    sleep 0.1
done
STRIPE=$(head -1 "$WORK/fake.out")
WEBHOOK_SECRET=whsec_openapi
echo "$WEBHOOK_SECRET" >"$WORK/whsec"

# The built-in plans plus a concurrency meter, so the lease routes answer.
python3 - "$ROOT/schemas/plans.example.json" >"$WORK/plans.json" <<'PY'
import json, sys
plans = json.load(open(sys.argv[1]))
for plan in plans["plans"]:
    plan["meters"]["jobs"] = {"limit": "1", "kind": "concurrency"}
    plan["monthly_credits"] = "100"
print(json.dumps(plans))
PY
STRIPE_SECRET_KEY=sk_test_openapi "$BIN" up --data-dir "$WORK/data" --listen 127.0.0.1:0 \
    --config "$WORK/plans.json" \
    --admin-key "$ADMIN" --rate-limit 100000 --rate-burst 100000 \
    --stripe-api-base "$STRIPE" --stripe-webhook-secret-file "$WORK/whsec" \
    >"$WORK/up.out" 2>"$WORK/up.err" &
UP_PID=$!
URL=$(up_dashboard_url "$UP_PID" "$WORK/up.out" 120) || fail "$URL"

# The tenant, on the built-in free plan (api_calls 1000, tokens 100000, audio_minutes 60).
"$BIN" account set --bootstrap-file "$WORK/data/bootstrap" --tenant acme --plan free \
    --api-key "$KEY" --stripe-customer cus_acme >/dev/null 2>"$WORK/cli.err" || fail "account set: $(cat "$WORK/cli.err")"
account_held() {
    curl -s -H "Authorization: Bearer $ADMIN" "${URL}v1/admin/tenants" | grep -q '"tenant_id":"acme"'
}
poll 60 "the projection holding acme's account" account_held

# --- probes ------------------------------------------------------------------------------
call 200 GET /healthz /healthz
ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' "${URL}readyz") == 200 ]]; }
poll 60 "/readyz answering 200" ready
call 200 GET /readyz /readyz
call 200 GET /metrics /metrics
call 200 GET / /
call 401 GET /v1/whoami /v1/whoami
call 401 GET /v1/whoami /v1/whoami -H "Authorization: Bearer not-a-key"
tenant 200 GET /v1/whoami /v1/whoami
admin 200 GET /v1/whoami /v1/whoami

# --- alert rules (before the usage, so that it crosses one) ------------------------------
tenant 201 POST /v1/tenants/{tenant}/alert-rules /v1/tenants/acme/alert-rules \
    -H "Content-Type: application/json" \
    -d '{"id":"calls-100","meter":"api_calls","period":"month","threshold":{"amount":"100"}}'
tenant 201 POST /v1/tenants/{tenant}/alert-rules /v1/tenants/acme/alert-rules \
    -H "Content-Type: application/json" \
    -d '{"meter":"tokens","period":"day","threshold":{"percent":"0.5"}}'
tenant 409 POST /v1/tenants/{tenant}/alert-rules /v1/tenants/acme/alert-rules \
    -H "Content-Type: application/json" \
    -d '{"id":"calls-100","meter":"api_calls","period":"month","threshold":{"amount":"100"}}'
tenant 400 POST /v1/tenants/{tenant}/alert-rules /v1/tenants/acme/alert-rules \
    -H "Content-Type: application/json" -d '{"meter":"api_calls"}'
tenant 200 GET /v1/tenants/{tenant}/alert-rules /v1/tenants/acme/alert-rules
tenant 204 DELETE /v1/tenants/{tenant}/alert-rules/{id} /v1/tenants/acme/alert-rules/calls-100
tenant 404 DELETE /v1/tenants/{tenant}/alert-rules/{id} /v1/tenants/acme/alert-rules/calls-100
tenant 201 POST /v1/tenants/{tenant}/alert-rules /v1/tenants/acme/alert-rules \
    -H "Content-Type: application/json" \
    -d '{"id":"calls-100","meter":"api_calls","period":"month","threshold":{"amount":"100"}}'

# --- events ------------------------------------------------------------------------------
NOW=$(python3 -c 'import datetime; print(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))')
event() {  # key meter quantity [properties]
    echo "{\"idempotency_key\":\"$1\",\"tenant_id\":\"acme\",\"meter\":\"$2\",\"quantity\":$3,\"timestamp\":\"$NOW\"${4:+,\"properties\":$4}}"
}
tenant 200 POST /v1/events /v1/events -H "Content-Type: application/json" \
    -d "[$(event e1 api_calls 850),$(event e2 tokens 60000 '{"model":"gpt-x"}'),$(event e3 audio_minutes '"1.5"'),$(event e4 other_meter 2)]"
[[ $(json 'v["durability"]') == ledger ]] || fail "wait=committed did not answer durability ledger"
tenant 200 POST /v1/events /v1/events -H "Content-Type: application/json" -d "$(event e1 api_calls 850)"
[[ $(json 'v["events"][0]["status"]') == duplicate ]] || fail "a resent event was not a duplicate"
admin 202 POST /v1/events '/v1/events?wait=acknowledged' -H "Content-Type: application/x-ndjson" \
    --data-binary "$(event e5 api_calls 1)"$'\n'"$(event e6 api_calls 1)"
tenant 400 POST /v1/events /v1/events -H "Content-Type: application/json" -d '{"tenant_id":"acme"}'
tenant 200 POST /v1/tenants/{tenant}/consume /v1/tenants/acme/consume -H "Content-Type: application/json" \
    -d "{\"meter\":\"api_calls\",\"quantity\":1,\"idempotency_key\":\"c1\",\"timestamp\":\"$NOW\"}"
[[ $(json 'v["status"]') == accepted ]] || fail "consume did not accept"
tenant 200 POST /v1/tenants/{tenant}/consume /v1/tenants/acme/consume -H "Content-Type: application/json" \
    -d "{\"meter\":\"api_calls\",\"quantity\":1,\"idempotency_key\":\"c1\",\"timestamp\":\"$NOW\"}"
[[ $(json 'v["status"]') == duplicate && $(json 'v["payload_matches"]') == True ]] ||
    fail "a retried consume was not a duplicate"
tenant 400 POST /v1/tenants/{tenant}/consume /v1/tenants/acme/consume -H "Content-Type: application/json" \
    -d '{"meter":"api_calls","quantity":1,"tenant_id":"acme"}'
tenant 400 POST /v1/tenants/{tenant}/consume /v1/tenants/acme/consume -H "Content-Type: application/json" \
    -d '{"meter":"api_calls","quantity":"-1"}'
tenant 400 POST /v1/events /v1/events -H "Content-Type: application/json" -d '{not json'
# --- credits -----------------------------------------------------------------------------
admin 201 POST /v1/tenants/{tenant}/credits/grants /v1/tenants/acme/credits/grants \
    -H "Content-Type: application/json" \
    -d '{"amount":"25.5","priority":1,"source":"admin","idempotency_key":"grant-1","expires_at":"2099-01-01T00:00:00Z"}'
[[ $(json 'v["balance"]') == 125.5 ]] || fail "a grant of 25.5 beside the allowance of 100 did not make 125.5"
admin 200 POST /v1/tenants/{tenant}/credits/grants /v1/tenants/acme/credits/grants \
    -H "Content-Type: application/json" -d '{"amount":"25.5","priority":1,"source":"admin","idempotency_key":"grant-1","expires_at":"2099-01-01T00:00:00Z"}'
admin 400 POST /v1/tenants/{tenant}/credits/grants /v1/tenants/acme/credits/grants \
    -H "Content-Type: application/json" -d '{"amount":"5"}'
tenant 403 POST /v1/tenants/{tenant}/credits/grants /v1/tenants/acme/credits/grants \
    -H "Content-Type: application/json" -d '{"amount":"5","idempotency_key":"grant-2"}'
credits_listed() {
    curl -s -H "Authorization: Bearer $KEY" "${URL}v1/tenants/acme/credits" | grep -q '"grant_id":"grant-1"'
}
poll 90 "GET credits listing grant-1" credits_listed
tenant 200 GET /v1/tenants/{tenant}/credits /v1/tenants/acme/credits
# --- leases ------------------------------------------------------------------------------
tenant 201 POST /v1/tenants/{tenant}/leases /v1/tenants/acme/leases -H "Content-Type: application/json" \
    -d '{"meter":"jobs","ttl":"15m","idempotency_key":"l1"}'
[[ $(json 'v["lease_id"]') == jobs:l1 ]] || fail "the lease id is not jobs:l1"
tenant 200 POST /v1/tenants/{tenant}/leases /v1/tenants/acme/leases -H "Content-Type: application/json" \
    -d '{"meter":"jobs","idempotency_key":"l1"}'
tenant 429 POST /v1/tenants/{tenant}/leases /v1/tenants/acme/leases -H "Content-Type: application/json" \
    -d '{"meter":"jobs","idempotency_key":"l2"}'
tenant 400 POST /v1/tenants/{tenant}/leases /v1/tenants/acme/leases -H "Content-Type: application/json" \
    -d '{"meter":"api_calls"}'
lease_listed() {
    curl -s -H "Authorization: Bearer $KEY" "${URL}v1/tenants/acme/leases" | grep -q '"lease_id":"jobs:l1"'
}
poll 90 "GET leases listing jobs:l1" lease_listed
tenant 200 GET /v1/tenants/{tenant}/leases /v1/tenants/acme/leases
tenant 204 DELETE /v1/tenants/{tenant}/leases/{lease_id} /v1/tenants/acme/leases/jobs:l1
tenant 404 DELETE /v1/tenants/{tenant}/leases/{lease_id} /v1/tenants/acme/leases/jobs:never
call 401 POST /v1/events /v1/events -H "Content-Type: application/json" -d "$(event e7 api_calls 1)"
tenant 403 POST /v1/events /v1/events -H "Content-Type: application/json" \
    -d '{"idempotency_key":"x","tenant_id":"other","meter":"api_calls","quantity":1,"timestamp":"'"$NOW"'"}'

# --- usage -------------------------------------------------------------------------------
used_all() {
    curl -s -H "Authorization: Bearer $KEY" "${URL}v1/tenants/acme/usage" | grep -q '"used":"853"'  # 850 + e5 + e6 + the consume call
}
poll 60 "usage showing every event" used_all
tenant 200 GET /v1/tenants/{tenant}/usage /v1/tenants/acme/usage
tenant 200 GET /v1/tenants/{tenant}/usage '/v1/tenants/acme/usage?period=day'
tenant 200 GET /v1/tenants/{tenant}/usage '/v1/tenants/acme/usage?period=hour'
admin 200 GET /v1/tenants/{tenant}/usage /v1/tenants/nobody/usage
tenant 400 GET /v1/tenants/{tenant}/usage '/v1/tenants/acme/usage?period=week'
tenant 400 GET /v1/tenants/{tenant}/usage '/v1/tenants/acme/usage?at=yesterday'
call 401 GET /v1/tenants/{tenant}/usage /v1/tenants/acme/usage
tenant 403 GET /v1/tenants/{tenant}/usage /v1/tenants/other/usage
tenant 200 GET /v1/tenants/{tenant}/usage/history '/v1/tenants/acme/usage/history?meter=api_calls'
tenant 200 GET /v1/tenants/{tenant}/usage/history '/v1/tenants/acme/usage/history?meter=tokens&window=hour'
tenant 200 GET /v1/tenants/{tenant}/usage/history '/v1/tenants/acme/usage/history?meter=tokens&window=day&group_by=model'
tenant 400 GET /v1/tenants/{tenant}/usage/history /v1/tenants/acme/usage/history
tenant 400 GET /v1/tenants/{tenant}/usage/history '/v1/tenants/acme/usage/history?meter=api_calls&window=year'
tenant 200 GET /v1/tenants/{tenant}/entitlements/{meter} '/v1/tenants/acme/entitlements/api_calls?amount=10'
tenant 200 GET /v1/tenants/{tenant}/entitlements/{meter} /v1/tenants/acme/entitlements/other_meter
tenant 400 GET /v1/tenants/{tenant}/entitlements/{meter} '/v1/tenants/acme/entitlements/api_calls?amount=abc'

# --- alerts ------------------------------------------------------------------------------
# 853 api_calls cross the rule's 100 and the plan's 80 %; deliveries decided (no webhook).
alerts_decided() {
    curl -s -H "Authorization: Bearer $KEY" "${URL}v1/tenants/acme/alerts" | python3 -c '
import json, sys
a = json.load(sys.stdin)["alerts"]
sys.exit(0 if len(a) >= 2 and all(x["delivery"]["status"] != "pending" for x in a) else 1)'
}
poll 60 "the alerts raised and their delivery decided" alerts_decided
tenant 200 GET /v1/tenants/{tenant}/alerts /v1/tenants/acme/alerts
ALERT=$(json 'v["alerts"][0]["id"]')
tenant 200 GET /v1/tenants/{tenant}/alerts '/v1/tenants/acme/alerts?limit=1'
CURSOR=$(json 'v["next_cursor"]')
tenant 200 GET /v1/tenants/{tenant}/alerts "/v1/tenants/acme/alerts?limit=1&cursor=$CURSOR"
tenant 200 GET /v1/tenants/{tenant}/alerts '/v1/tenants/acme/alerts?meter=api_calls'
tenant 400 GET /v1/tenants/{tenant}/alerts '/v1/tenants/acme/alerts?limit=0'
tenant 200 GET /v1/tenants/{tenant}/alerts/{id}/deliveries "/v1/tenants/acme/alerts/$ALERT/deliveries"
tenant 404 GET /v1/tenants/{tenant}/alerts/{id}/deliveries /v1/tenants/acme/alerts/al_00000000000000000000000000000000/deliveries
tenant 202 POST /v1/tenants/{tenant}/alerts/{id}/redeliver "/v1/tenants/acme/alerts/$ALERT/redeliver"
tenant 404 POST /v1/tenants/{tenant}/alerts/{id}/redeliver /v1/tenants/acme/alerts/al_00000000000000000000000000000000/redeliver

# --- billing (the fake Stripe) -----------------------------------------------------------
tenant 200 GET /v1/tenants/{tenant}/billing /v1/tenants/acme/billing
[[ $(json 'v["enabled"]') == True ]] || fail "billing is not enabled"
tenant 200 GET /v1/tenants/{tenant}/billing '/v1/tenants/acme/billing?limit=1'
tenant 400 GET /v1/tenants/{tenant}/billing '/v1/tenants/acme/billing?limit=0'
tenant 403 GET /v1/tenants/{tenant}/billing /v1/tenants/other/billing
CHECKOUT=/v1/tenants/{tenant}/billing/checkout
tenant 200 POST $CHECKOUT /v1/tenants/acme/billing/checkout -H "Content-Type: application/json" \
    -d '{"plan":"pro","success_url":"https://example.com/ok","cancel_url":"https://example.com/no"}'
tenant 400 POST $CHECKOUT /v1/tenants/acme/billing/checkout -H "Content-Type: application/json" \
    -d '{"plan":"nope","success_url":"https://example.com/ok","cancel_url":"https://example.com/no"}'
tenant 400 POST $CHECKOUT /v1/tenants/acme/billing/checkout -H "Content-Type: application/json" -d '{}'
PORTAL=/v1/tenants/{tenant}/billing/portal
tenant 200 POST $PORTAL /v1/tenants/acme/billing/portal -H "Content-Type: application/json" \
    -d '{"return_url":"https://example.com/back"}'
admin 409 POST $PORTAL /v1/tenants/nobody/billing/portal -H "Content-Type: application/json" \
    -d '{"return_url":"https://example.com/back"}'
tenant 400 POST $PORTAL /v1/tenants/acme/billing/portal -H "Content-Type: application/json" -d '[]'
# The webhook: an event type it does not act on, signed as Stripe signs (HMAC-SHA256 over
# "<t>.<body>"), is received and ignored; a wrong signature is refused.
EVENT="{\"id\":\"evt_openapi\",\"object\":\"event\",\"type\":\"invoice.paid\",\"created\":$(date +%s),\"data\":{\"object\":{}}}"
SIGNATURE=$(python3 -c '
import hashlib, hmac, sys, time
t = str(int(time.time()))
mac = hmac.new(sys.argv[1].encode(), (t + "." + sys.argv[2]).encode(), hashlib.sha256)
print("t=" + t + ",v1=" + mac.hexdigest())' "$WEBHOOK_SECRET" "$EVENT")
call 200 POST /v1/stripe/webhook /v1/stripe/webhook -H "Content-Type: application/json" \
    -H "Stripe-Signature: $SIGNATURE" --data-binary "$EVENT"
[[ $(json 'v["action"]') == ignored ]] || fail "the webhook acted on an invoice.paid event"
call 400 POST /v1/stripe/webhook /v1/stripe/webhook -H "Content-Type: application/json" \
    -H "Stripe-Signature: t=1,v1=00" --data-binary "$EVENT"
# A paid checkout of 40 credits becomes a grant; delivered twice, it grants once.
EVENT="{\"id\":\"evt_credits\",\"object\":\"event\",\"type\":\"checkout.session.completed\",\"created\":$(date +%s),\"data\":{\"object\":{\"id\":\"cs_openapi\",\"object\":\"checkout.session\",\"client_reference_id\":\"acme\",\"payment_status\":\"paid\",\"metadata\":{\"credits\":\"40\"}}}}"
SIGNATURE=$(python3 -c '
import hashlib, hmac, sys, time
t = str(int(time.time()))
mac = hmac.new(sys.argv[1].encode(), (t + "." + sys.argv[2]).encode(), hashlib.sha256)
print("t=" + t + ",v1=" + mac.hexdigest())' "$WEBHOOK_SECRET" "$EVENT")
for _ in 1 2; do
    call 200 POST /v1/stripe/webhook /v1/stripe/webhook -H "Content-Type: application/json" \
        -H "Stripe-Signature: $SIGNATURE" --data-binary "$EVENT"
done
checkout_granted() {
    curl -s -H "Authorization: Bearer $KEY" "${URL}v1/tenants/acme/credits" >"$WORK/credits.json"
    python3 -c '
import json, sys
wallet = json.load(open(sys.argv[1]))
grants = [g for g in wallet["grants"] if g["grant_id"] == "stripe-checkout-cs_openapi"]
assert len(grants) == 1 and grants[0]["amount"] == "40" and grants[0]["source"] == "stripe checkout"
assert sum(1 for t in wallet["transactions"] if t["id"] == "stripe-checkout-cs_openapi") == 1
' "$WORK/credits.json"
}
poll 90 "the checkout's 40 credits granted once" checkout_granted

# --- admin -------------------------------------------------------------------------------
admin 200 GET /v1/admin/tenants /v1/admin/tenants
# Accounts and keys.
JSON=(-H "Content-Type: application/json")
admin 201 PUT /v1/admin/accounts/{tenant} /v1/admin/accounts/keyed "${JSON[@]}" \
    -d '{"plan":"pro","time_zone":"Europe/Paris"}'
admin 200 PUT /v1/admin/accounts/{tenant} /v1/admin/accounts/keyed "${JSON[@]}" -d '{"plan":"pro"}'
admin 400 PUT /v1/admin/accounts/{tenant} /v1/admin/accounts/keyed "${JSON[@]}" -d '{"plan":"nope"}'
tenant 403 PUT /v1/admin/accounts/{tenant} /v1/admin/accounts/keyed "${JSON[@]}" -d '{"plan":"pro"}'
admin 200 GET /v1/admin/accounts/{tenant} /v1/admin/accounts/acme
admin 404 GET /v1/admin/accounts/{tenant} /v1/admin/accounts/nobody
admin 200 GET /v1/admin/accounts '/v1/admin/accounts?limit=1'
admin 400 GET /v1/admin/accounts '/v1/admin/accounts?limit=0'
admin 201 POST /v1/tenants/{tenant}/keys /v1/tenants/keyed/keys "${JSON[@]}" \
    -d '{"name":"ingest-only","scopes":["ingest"]}'
INGEST_KEY=$(json 'v["key"]')
INGEST_ID=$(json 'v["id"]')
admin 400 POST /v1/tenants/{tenant}/keys /v1/tenants/keyed/keys "${JSON[@]}" -d '{"name":"x","scopes":[]}'
admin 404 POST /v1/tenants/{tenant}/keys /v1/tenants/nobody/keys "${JSON[@]}" \
    -d '{"name":"x","scopes":["read"]}'
call 403 GET /v1/tenants/{tenant}/usage /v1/tenants/keyed/usage -H "Authorization: Bearer $INGEST_KEY"
call 200 GET /v1/whoami /v1/whoami -H "Authorization: Bearer $INGEST_KEY"
admin 200 GET /v1/tenants/{tenant}/keys /v1/tenants/keyed/keys
tenant 403 GET /v1/tenants/{tenant}/keys /v1/tenants/keyed/keys
admin 204 DELETE /v1/tenants/{tenant}/keys/{id} "/v1/tenants/keyed/keys/$INGEST_ID"
admin 404 DELETE /v1/tenants/{tenant}/keys/{id} /v1/tenants/keyed/keys/key_nope
call 401 GET /v1/whoami /v1/whoami -H "Authorization: Bearer $INGEST_KEY"
admin 204 DELETE /v1/admin/accounts/{tenant} /v1/admin/accounts/keyed
admin 404 DELETE /v1/admin/accounts/{tenant} /v1/admin/accounts/keyed
admin 200 GET /v1/admin/dead-letters '/v1/admin/dead-letters?limit=5'
admin 400 GET /v1/admin/dead-letters '/v1/admin/dead-letters?cursor=x'
tenant 403 GET /v1/admin/dead-letters /v1/admin/dead-letters
tenant 403 GET /v1/admin/tenants /v1/admin/tenants
admin 202 POST /v1/admin/jobs /v1/admin/jobs -H "Content-Type: application/json" -d '{"kind":"verify"}'
VERIFY=$(json 'v["id"]')
admin 400 POST /v1/admin/jobs /v1/admin/jobs -H "Content-Type: application/json" -d '{"kind":"nope"}'
tenant 403 POST /v1/admin/jobs /v1/admin/jobs -H "Content-Type: application/json" -d '{"kind":"verify"}'
admin 202 POST /v1/admin/reconcile /v1/admin/reconcile -H "Content-Type: application/json" \
    -d '{"tenant_id":"acme"}'
admin 400 POST /v1/admin/reconcile /v1/admin/reconcile -H "Content-Type: application/json" -d '{}'
# A job still pending when cancelled: the last of a few replays sent back to back (one job runs
# at a time, and a replay of this small ledger takes well under a second, hence a few tries).
for attempt in 1 2 3 4 5 6 7 8 9 10; do
    for _ in 1 2 3; do
        curl -s -o /dev/null -X POST -H "Authorization: Bearer $ADMIN" \
            -H "Content-Type: application/json" -d '{"kind":"replay"}' "${URL}v1/admin/jobs"
    done
    admin 202 POST /v1/admin/jobs /v1/admin/jobs -H "Content-Type: application/json" -d '{"kind":"replay"}'
    REPLAY=$(json 'v["id"]')
    admin '200|409' DELETE /v1/admin/jobs/{id} "/v1/admin/jobs/$REPLAY"
    # 200 also answers a job that was already running (status running: cancellation asked);
    # only a pending one is cancelled at once, which is what this checks.
    [[ $STATUS == 200 && $(json 'v["status"]') == cancelled ]] && break
    ((attempt < 10)) || fail "no replay was still pending when cancelled, in 10 tries"
done
admin 409 DELETE /v1/admin/jobs/{id} "/v1/admin/jobs/$REPLAY"
admin 404 DELETE /v1/admin/jobs/{id} /v1/admin/jobs/no-such-job
admin 200 GET /v1/admin/jobs /v1/admin/jobs
admin 200 GET /v1/admin/jobs '/v1/admin/jobs?kind=verify&status=completed'
admin 400 GET /v1/admin/jobs '/v1/admin/jobs?kind=nope'
job_done() {
    curl -s -H "Authorization: Bearer $ADMIN" "${URL}v1/admin/jobs/$VERIFY" | grep -q '"status":"completed"'
}
poll 120 "the verify job completing" job_done
admin 200 GET /v1/admin/jobs/{id} "/v1/admin/jobs/$VERIFY"
admin 404 GET /v1/admin/jobs/{id} /v1/admin/jobs/no-such-job
call 401 GET /v1/admin/jobs/{id} "/v1/admin/jobs/$VERIFY"

[[ -s "$WORK/failures.log" ]] && fail "answers do not match schemas/openapi.yaml"
python3 "$CHECK" "$SPEC" coverage "$WORK/coverage.log" || fail "not every operation was checked"

stop_up
echo "ok: $(grep -c '^checked' "$WORK/coverage.log") answers match schemas/openapi.yaml"
