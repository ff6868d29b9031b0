#!/usr/bin/env bash
# Leases on a concurrency meter (issue 14), on a real `usage-ledger up`:
# 1. With 1 slot, two concurrent POST …/leases give one 201 and one 429 (Retry-After); the
#    refused key retried is still 429, the acquired key retried is 200 duplicate.
# 2. GET …/leases lists the held lease; DELETE frees it (204; again 204; an unknown id 404) and
#    the next acquire gets the slot.
# 3. A lease with ttl 1s: once it expired, an acquire gets the slot without any release.
# 4. A meter that is not a concurrency meter is a 400; the monthly usage of the concurrency
#    meter is unlimited (no alert, no overage).
# 5. After a restart the held lease is still held (the ledger's lease row is durable), and
#    `replay --verify` rebuilds the same lease rows (and every cell) from the ledger.
# Usage: leases.sh BIN ROOT
set -uo pipefail
BIN=$1
ROOT=$2
# shellcheck source=tests/support/up_test_lib.sh
source "$ROOT/tests/support/up_test_lib.sh"
e2e_begin
fail() { up_failure "$@"; }

cat >"$WORK/plans.json" <<'JSON'
{"currency":"usd","default_plan":"free","plans":[
  {"id":"free","name":"Free","meters":{"jobs":{"limit":"1","kind":"concurrency"},
                                       "api_calls":{"limit":"1000"}}}]}
JSON
ADMIN=admin-leases
KEY=lease-a-key
start_up() { up_start --config "$WORK/plans.json" --admin-key "$ADMIN"; }
start_up
"$BIN" account set --bootstrap-file "$WORK/data/bootstrap" --tenant lease-a --plan free \
    --api-key "$KEY" >/dev/null 2>"$WORK/cli.err" || fail "account set: $(cat "$WORK/cli.err")"
account_held() {
    curl -s -H "Authorization: Bearer $ADMIN" "$URL/v1/admin/tenants" | grep -q '"tenant_id":"lease-a"'
}
poll 60 "the projection holding the account" account_held

# lease_call NAME METHOD PATH [BODY]: status in $WORK/NAME.status, headers and body beside it.
lease_call() {
    local name=$1 method=$2 path=$3 body=${4:-}
    curl -s -o "$WORK/$name.body" -D "$WORK/$name.headers" -w '%{http_code}' -X "$method" \
        -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
        ${body:+-d "$body"} "$URL/v1/tenants/lease-a$path" >"$WORK/$name.status"
}
status_of() { cat "$WORK/$1.status"; }
body_of() { cat "$WORK/$1.body"; }
field_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/$1.body" "$2"; }

# 1. Two concurrent acquires of the one slot.
lease_call one POST /leases '{"meter":"jobs","ttl":"15m","idempotency_key":"job-1"}' &
first=$!
lease_call two POST /leases '{"meter":"jobs","ttl":"15m","idempotency_key":"job-2"}' &
second=$!
wait "$first" "$second"
statuses="$(status_of one) $(status_of two)"
case "$statuses" in
    "201 429") held=one refused=two ;;
    "429 201") held=two refused=one ;;
    *) fail "two concurrent acquires of 1 slot answered $statuses: $(body_of one) / $(body_of two)" ;;
esac
HELD_ID=$(field_of $held lease_id)
REFUSED_KEY=$([[ $refused == one ]] && echo job-1 || echo job-2)
HELD_KEY=$([[ $held == one ]] && echo job-1 || echo job-2)
[[ $HELD_ID == "jobs:$HELD_KEY" ]] || fail "lease id $HELD_ID, expected jobs:$HELD_KEY"
[[ $(field_of $held held) == 1 && $(field_of $held limit) == 1 ]] || fail "201 body: $(body_of $held)"
[[ $(field_of $refused error) == concurrency_limit_reached ]] || fail "429 body: $(body_of $refused)"
grep -qi '^retry-after: [0-9]' "$WORK/$refused.headers" || fail "the 429 has no Retry-After"
echo "ok: two concurrent acquires of 1 slot: $statuses"

lease_call again POST /leases "{\"meter\":\"jobs\",\"idempotency_key\":\"$REFUSED_KEY\"}"
[[ $(status_of again) == 429 ]] || fail "the refused key retried answered $(status_of again): $(body_of again)"
lease_call again POST /leases "{\"meter\":\"jobs\",\"idempotency_key\":\"$HELD_KEY\"}"
[[ $(status_of again) == 200 && $(field_of again status) == duplicate ]] ||
    fail "the acquired key retried answered $(status_of again): $(body_of again)"
echo "ok: retried keys keep their first verdict"

# 2. Listed, released, free again.
lists() {
    curl -s -H "Authorization: Bearer $KEY" "$URL/v1/tenants/lease-a/leases" >"$WORK/list.body"
    python3 - "$WORK/list.body" "$@" <<'PY'
import json, sys
body = json.load(open(sys.argv[1]))
ids = sorted(lease["lease_id"] for lease in body["leases"])
sys.exit(0 if ids == sorted(sys.argv[2:]) else 1)
PY
}
poll 30 "GET leases listing $HELD_ID" lists "$HELD_ID"
grep -q '"meters":\[{"meter":"jobs","held":"1","limit":"1"}\]' "$WORK/list.body" ||
    fail "GET leases: $(cat "$WORK/list.body")"
lease_call release DELETE "/leases/$HELD_ID"
[[ $(status_of release) == 204 ]] || fail "DELETE answered $(status_of release): $(body_of release)"
lease_call release DELETE "/leases/$HELD_ID"
[[ $(status_of release) == 204 ]] || fail "a repeated DELETE answered $(status_of release)"
lease_call release DELETE "/leases/jobs:never-acquired"
[[ $(status_of release) == 404 ]] || fail "DELETE of an unknown lease answered $(status_of release)"
poll 30 "GET leases listing none" lists
lease_call three POST /leases '{"meter":"jobs","ttl":"15m","idempotency_key":"job-3"}'
[[ $(status_of three) == 201 ]] || fail "an acquire after the release answered $(status_of three): $(body_of three)"
lease_call release DELETE "/leases/jobs:job-3"
[[ $(status_of release) == 204 ]] || fail "DELETE of job-3 answered $(status_of release)"
echo "ok: released leases free their slot; a repeated release is 204, an unknown one 404"

# 3. Expiry frees the slot by itself.
lease_call short POST /leases '{"meter":"jobs","ttl":"1s","idempotency_key":"job-short"}'
[[ $(status_of short) == 201 ]] || fail "the short lease answered $(status_of short): $(body_of short)"
attempt=0
acquire_after_expiry() {
    attempt=$((attempt + 1))
    lease_call late POST /leases "{\"meter\":\"jobs\",\"ttl\":\"15m\",\"idempotency_key\":\"job-late-$attempt\"}"
    [[ $(status_of late) == 201 ]]
}
poll 30 "an acquire once the 1 s lease expired" acquire_after_expiry
LATE_ID=$(field_of late lease_id)
echo "ok: an expired lease freed its slot (acquired after $attempt tries)"

# 4. Not a concurrency meter; the monthly usage of jobs is unlimited.
lease_call wrong POST /leases '{"meter":"api_calls"}'
[[ $(status_of wrong) == 400 && $(field_of wrong error) == not_a_concurrency_meter ]] ||
    fail "a lease on api_calls answered $(status_of wrong): $(body_of wrong)"
lease_call bad POST /leases '{"meter":"jobs","ttl":"forever"}'
[[ $(status_of bad) == 400 && $(field_of bad error) == bad_ttl ]] || fail "a bad ttl answered $(status_of bad)"
curl -s -H "Authorization: Bearer $KEY" "$URL/v1/tenants/lease-a/usage" >"$WORK/usage.body"
python3 - "$WORK/usage.body" <<'PY' || fail "usage of jobs: $(cat "$WORK/usage.body")"
import json, sys
meters = {m["meter"]: m for m in json.load(open(sys.argv[1]))["meters"]}
jobs = meters["jobs"]
assert jobs["limit"] is None, jobs
assert not jobs.get("over_limit"), jobs
PY
echo "ok: leases only on concurrency meters; their monthly usage is unlimited"

# The dashboard lists the held lease and says the meter is full.
poll 30 "GET leases listing $LATE_ID" lists "$LATE_ID"
dashboard_dom "$URL/#key=$KEY" "$WORK/dashboard.html"
grep -q "<td>$LATE_ID</td>" "$WORK/dashboard.html" && grep -q "jobs: 1 of 1 held (full" "$WORK/dashboard.html" ||
    fail "the dashboard's leases panel: $(grep -o '<section id="leases".*' "$WORK/dashboard.html" | head -c 1500)"
echo "ok: the dashboard lists the held lease"

# 5. Durable across a restart, and the same after a replay.
stop_up
start_up
lease_call after POST /leases '{"meter":"jobs","idempotency_key":"job-after-restart"}'
[[ $(status_of after) == 429 ]] || fail "after a restart the held lease was not held: $(status_of after) $(body_of after)"
poll 30 "GET leases after the restart" lists "$LATE_ID"
stop_up
"$BIN" replay --ledger-dir "$WORK/data" --out "$WORK/rebuilt" --verify "$WORK/data" \
    --config "$WORK/plans.json" >"$WORK/replay.out" 2>"$WORK/replay.err" ||
    fail "replay --verify: $(cat "$WORK/replay.out" "$WORK/replay.err" | tail -20)"
python3 - "$WORK/replay.out" <<'PY' || fail "replay: $(cat "$WORK/replay.out")"
import json, sys
report = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
verify = report["verify"]
assert verify["differences"] == 0 and verify["rows_compared"] > 0, verify
PY
echo "ok: replay rebuilds the same lease rows and cells ($(tail -1 "$WORK/replay.out"))"
"$BIN" verify --data-dir "$WORK/data" >/dev/null 2>"$WORK/verify.err" || fail "verify: $(cat "$WORK/verify.err")"
echo "PASS"
