#!/usr/bin/env bash
# Check-and-consume against a hard limit (issue 14), on a real `usage-ledger up`:
# 1. 64 concurrent clients make 3,000 calls of 1 unit for a tenant whose plan has a hard limit of
#    1,000 api_calls: exactly 1,000 answers 200 accepted, 2,000 answers 429 quota_exceeded with
#    Retry-After; `used` is never above 1,000 in any answer; the usage API, `export counters` and
#    `stats` say 1,000 used and 2,000 rejected_limit; `verify` passes.
# 2. Every key sent again answers 200 duplicate with its first verdict (accepted, or
#    rejected_limit for a key first refused).
# 3. `kill -9` of `up` while 64 clients consume for a second tenant: after a restart, every
#    verdict a client had received stands (its retry is a duplicate of it), the calls that got
#    no answer are decided when retried, and that tenant too ends with exactly 1,000 accepted.
# Usage: consume_hard_limit.sh BIN ROOT
set -uo pipefail
BIN=$1
ROOT=$2
# shellcheck source=tests/support/up_test_lib.sh
source "$ROOT/tests/support/up_test_lib.sh"
LOAD=$ROOT/tests/support/consume_load.py
WORK=$(mktemp -d)
UP_PID=
LOAD_PID=
cleanup() {
    [[ -n "$LOAD_PID" ]] && kill -9 "$LOAD_PID" 2>/dev/null
    [[ -n "$UP_PID" ]] && kill -9 "$UP_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    echo "--- up stderr"; tail -40 "$WORK/up.err" 2>/dev/null
    exit 1
}

cat >"$WORK/plans.json" <<'JSON'
{"currency":"usd","default_plan":"free","plans":[
  {"id":"free","name":"Free","meters":{"api_calls":{"limit":"1000","enforcement":"hard"}}},
  {"id":"pro","name":"Pro","meters":{"api_calls":{"limit":null}}}]}
JSON
ADMIN=admin-consume
start_up() { up_start --config "$WORK/plans.json" --admin-key "$ADMIN" --rate-limit 100000 --rate-burst 100000; }
start_up
for tenant in lim-a lim-b; do
    "$BIN" account set --bootstrap-file "$WORK/data/bootstrap" --tenant "$tenant" --plan free \
        --api-key "$tenant-key" >/dev/null 2>"$WORK/cli.err" || fail "account set: $(cat "$WORK/cli.err")"
done
accounts_held() {
    local tenants
    tenants=$(curl -s -H "Authorization: Bearer $ADMIN" "$URL/v1/admin/tenants")
    [[ $tenants == *'"tenant_id":"lim-a"'* && $tenants == *'"tenant_id":"lim-b"'* ]]
}
poll 60 "the projection holding the accounts" accounts_held

# Tallies a load file: prints "accepted rejected duplicate_accepted duplicate_rejected errors
# other", and fails (exit 1, naming the line) when an answer's used is above its limit, a 429 has
# no Retry-After, or an answer is neither accepted, quota_exceeded nor duplicate.
tally() {
    python3 - "$1" <<'PY'
import json, sys
counts = dict(accepted=0, rejected=0, dup_accepted=0, dup_rejected=0, errors=0)
for line in open(sys.argv[1]):
    r = json.loads(line)
    body, status = r.get("body") or {}, r["status"]
    if status == 0:
        counts["errors"] += 1
        continue
    if "used" in body and body["used"] is not None and int(body["used"]) > int(body["limit"]):
        sys.exit(f"used above the limit: {line}")
    if status == 200 and body.get("status") == "accepted":
        counts["accepted"] += 1
    elif status == 429 and body.get("error") == "quota_exceeded":
        if not (r.get("retry_after") or "").isdigit() or body.get("plan") != "free":
            sys.exit(f"a 429 without Retry-After or plan: {line}")
        counts["rejected"] += 1
    elif status == 200 and body.get("status") == "duplicate":
        counts["dup_" + ("rejected" if body["first_verdict"] == "rejected_limit" else "accepted")] += 1
    else:
        sys.exit(f"unexpected answer: {line}")
print(" ".join(str(counts[k]) for k in ("accepted", "rejected", "dup_accepted", "dup_rejected", "errors")))
PY
}

# --- 1. 3,000 concurrent calls against a limit of 1,000 -----------------------------------------
python3 "$LOAD" --url "$URL" --api-key lim-a-key --tenant lim-a --calls 3000 --threads 64 \
    --prefix a --out "$WORK/a1.jsonl" || fail "load a"
counts=$(tally "$WORK/a1.jsonl") || fail "tally: $counts"
[[ $counts == "1000 2000 0 0 0" ]] || fail "3,000 calls gave accepted/429/dup/dup/errors = $counts"
echo "3,000 concurrent calls, limit 1,000: $counts (accepted, 429, …)"

usage_used() { # usage_used TENANT: the api_calls used of the month, from the usage API
    curl -s -H "Authorization: Bearer $ADMIN" "$URL/v1/tenants/$1/usage" | python3 -c '
import json, sys
answer = json.load(sys.stdin)
meters = answer["meters"]
meters = meters.values() if isinstance(meters, dict) else meters
print([m for m in meters if m.get("meter", "api_calls") == "api_calls"][0]["used"])'
}
used_is() { [[ $(usage_used "$1") == "$2" ]]; }
poll 60 "usage API: lim-a used 1000 (now $(usage_used lim-a))" used_is lim-a 1000
stats_has() { # the ledger's counts
    "$BIN" stats --data-dir "$WORK/data" >"$WORK/stats.json" 2>/dev/null &&
        python3 - "$WORK/stats.json" "$@" <<'PY'
import json, sys
stats = json.load(open(sys.argv[1]))
for pair in sys.argv[2:]:
    key, value = pair.split("=")
    if stats.get(key) != int(value):
        sys.exit(1)
PY
}
poll 30 "stats: accepted 1000, rejected_limit 2000" stats_has accepted=1000 rejected_limit=2000 dead_lettered=0
metric_is() {
    # Read whole, then searched: `curl | grep -q` under pipefail fails when grep exits at the
    # match before curl has written the rest (SIGPIPE), a failure that depends on timing.
    local metrics
    metrics=$(curl -s "$URL/metrics") && grep -qx "ledger_events_total{outcome=\"$1\"} $2" <<<"$metrics"
}
poll 30 "/metrics: rejected_limit 2000" metric_is rejected_limit 2000
metric_is dead_lettered 0 || {
    fail "/metrics counts the refusals as dead letters: $(curl -s "$URL/metrics" | grep '^ledger_events_total\|^ledger_dead_lettered_total')"
}
export_has() {
    "$BIN" export counters --data-dir "$WORK/data" --window month 2>/dev/null |
        grep '"tenant_id":"lim-a"' | grep -q '"sum":"1000"'
}
poll 60 "export counters: lim-a api_calls 1000" export_has

# --- 2. retries answer their first verdict ----------------------------------------------------
python3 "$LOAD" --url "$URL" --api-key lim-a-key --tenant lim-a --keys-from "$WORK/a1.jsonl" \
    --threads 64 --out "$WORK/a2.jsonl" || fail "retry load a"
python3 - "$WORK/a1.jsonl" "$WORK/a2.jsonl" <<'PY' || fail "retries did not answer their first verdicts"
import json, sys
first = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    first[r["key"]] = "accepted" if r["status"] == 200 else "rejected_limit"
seen = 0
for line in open(sys.argv[2]):
    r = json.loads(line)
    body = r["body"]
    assert r["status"] == 200 and body["status"] == "duplicate", line
    assert body["first_verdict"] == first[r["key"]], line
    assert int(body["used"]) == 1000, line
    seen += 1
assert seen == len(first) == 3000, seen
PY
echo "3,000 retried keys: each a duplicate of its first verdict"

# --- 3. kill -9 during the run ----------------------------------------------------------------
python3 "$LOAD" --url "$URL" --api-key lim-b-key --tenant lim-b --calls 3000 --threads 64 \
    --prefix b --out "$WORK/b1.jsonl" &
LOAD_PID=$!
answered() { [[ $(grep -c '"status": [24]' "$WORK/b1.jsonl" 2>/dev/null) -ge 1600 ]]; }
poll 120 "1,600 answers for lim-b" answered
kill -9 "$UP_PID"
wait "$UP_PID" 2>/dev/null
UP_PID=
wait "$LOAD_PID" || fail "load b"
LOAD_PID=
before=$(tally "$WORK/b1.jsonl") || fail "tally b: $before"
echo "killed up with 64 clients running: accepted, 429, dup, dup, no answer = $before"
start_up
python3 "$LOAD" --url "$URL" --api-key lim-b-key --tenant lim-b --keys-from "$WORK/b1.jsonl" \
    --threads 64 --out "$WORK/b2.jsonl" || fail "retry load b"
python3 - "$WORK/b1.jsonl" "$WORK/b2.jsonl" <<'PY' || fail "after the restart"
import json, sys
acknowledged = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["status"] in (200, 429):
        acknowledged[r["key"]] = "accepted" if r["status"] == 200 else "rejected_limit"
final = {}
for line in open(sys.argv[2]):
    r = json.loads(line)
    body = r["body"]
    key = r["key"]
    if r["status"] == 200 and body["status"] == "accepted":
        verdict = "accepted"
    elif r["status"] == 429:
        verdict = "rejected_limit"
    elif r["status"] == 200 and body["status"] == "duplicate":
        verdict = body["first_verdict"]
    else:
        sys.exit(f"unexpected answer after the restart: {line}")
    if key in acknowledged:
        assert body.get("status") == "duplicate", f"an acknowledged verdict was decided again: {line}"
        assert verdict == acknowledged[key], f"an acknowledged verdict changed: {line}"
    assert int(body["used"]) <= 1000, line
    final[key] = verdict
assert len(final) == 3000, len(final)
accepted = sum(1 for v in final.values() if v == "accepted")
assert accepted == 1000, f"{accepted} accepted in all"
print(f"after the restart: {len(acknowledged)} acknowledged verdicts stood, 1000 accepted in all")
PY
poll 60 "usage API: lim-b used 1000" used_is lim-b 1000
poll 30 "stats: accepted 2000, rejected_limit 4000" stats_has accepted=2000 rejected_limit=4000
# --- without a key: one is made; a property named idempotency_key is only a property ------------
answer=$(curl -s -H "Authorization: Bearer $ADMIN" -H "Content-Type: application/json" \
    -d '{"meter":"api_calls","quantity":0,"properties":{"idempotency_key":"x"}}' "$URL/v1/tenants/lim-a/consume")
[[ $answer == *'"status":"accepted"'* && $answer == *'"idempotency_key":"0'* ]] ||
    fail "consume without a key: $answer"

kill -INT "$UP_PID"
wait "$UP_PID"
UP_PID=
"$BIN" verify --data-dir "$WORK/data" >"$WORK/verify.out" 2>&1 || fail "verify: $(cat "$WORK/verify.out")"
echo "ok"
