#!/usr/bin/env bash
# Dead letters for people (issue 17), on a real `usage-ledger up`: messages a service wrote
# straight to usage.events without our validation (kcat: a negative quantity, bytes that are not
# JSON, bytes that are not UTF-8), and events a hard limit refused, reach usage.events.dlq; then
#   - `usage-ledger dlq list` prints each with its reason, detail, source position, tenant and
#     original bytes (base64 when they are not UTF-8), filters by --reason and --tenant, and
#     pages with --limit / --cursor without skipping or repeating a letter;
#   - GET /v1/admin/dead-letters answers the same (admin key only; 403 for a tenant key; 400 for
#     a bad cursor or an unknown parameter).
# Usage: dead_letters.sh BIN ROOT
set -uo pipefail
BIN=$1
ROOT=$2
# shellcheck source=tests/support/up_test_lib.sh
source "$ROOT/tests/support/up_test_lib.sh"
e2e_begin
fail() { up_failure "$@"; }
command -v kcat >/dev/null || fail "kcat is not installed (ops/install-deps installs it)"

cat >"$WORK/plans.json" <<'JSON'
{"currency":"usd","default_plan":"free","plans":[
  {"id":"free","name":"Free","meters":{"api_calls":{"limit":"2","enforcement":"hard"}}}]}
JSON
ADMIN=admin-dlq
up_start --config "$WORK/plans.json" --admin-key "$ADMIN"
BOOT=$(cat "$WORK/data/bootstrap")
"$BIN" account set --bootstrap-file "$WORK/data/bootstrap" --tenant acme --plan free \
    --api-key acme-key >/dev/null 2>"$WORK/cli.err" || fail "account set: $(cat "$WORK/cli.err")"
account_held() {
    curl -s -H "Authorization: Bearer $ADMIN" "$URL/v1/admin/tenants" | grep -q '"tenant_id":"acme"'
}
poll 60 "the projection holding the account" account_held

NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# Three raw messages, as a service that writes to Kafka itself might send them.
printf '%s' "{\"idempotency_key\":\"neg\",\"tenant_id\":\"globex\",\"meter\":\"api_calls\",\"quantity\":-5,\"timestamp\":\"$NOW\"}" |
    kcat -P -b "$BOOT" -t usage.events -k globex 2>"$WORK/kcat.err" || fail "kcat: $(cat "$WORK/kcat.err")"
printf 'not json at all' | kcat -P -b "$BOOT" -t usage.events -k globex 2>"$WORK/kcat.err" || fail "kcat: $(cat "$WORK/kcat.err")"
printf '\xff\xfe\x00binary' | kcat -P -b "$BOOT" -t usage.events -k initech 2>"$WORK/kcat.err" || fail "kcat: $(cat "$WORK/kcat.err")"
# Four calls of 1 against a hard limit of 2: two refused (limit_exceeded).
for key in c1 c2 c3 c4; do
    curl -s -o /dev/null -H "Authorization: Bearer acme-key" -H "Content-Type: application/json" \
        -d "{\"meter\":\"api_calls\",\"quantity\":1,\"idempotency_key\":\"$key\"}" "$URL/v1/tenants/acme/consume"
done

list() { "$BIN" dlq list --bootstrap-file "$WORK/data/bootstrap" "$@"; }
five_letters() {
    list >"$WORK/all.jsonl" 2>"$WORK/dlq.err" && [[ $(grep -c '"error"' "$WORK/all.jsonl") -eq 5 ]]
}
poll 60 "five dead letters in usage.events.dlq" five_letters
python3 - "$WORK/all.jsonl" <<'PY' || fail "dlq list: $(cat "$WORK/all.jsonl")"
import base64, json, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
letters, tail = lines[:-1], lines[-1]
assert tail["more"] is False and tail["next_cursor"], tail
by_reason = {}
for letter in letters:
    by_reason.setdefault(letter["error"], []).append(letter)
    assert letter["source"]["partition"] >= 0 and letter["source"]["offset"] >= 0, letter
    assert letter["detail"], letter
assert sorted(by_reason) == ["bad_quantity", "bad_utf8", "limit_exceeded", "malformed_json"], sorted(by_reason)
assert len(by_reason["limit_exceeded"]) == 2
assert all(l["tenant_id"] == "acme" for l in by_reason["limit_exceeded"])
neg = by_reason["bad_quantity"][0]
assert neg["tenant_id"] == "globex" and '"quantity":-5' in neg["value"], neg
assert by_reason["malformed_json"][0]["value"] == "not json at all"
binary = by_reason["bad_utf8"][0]
assert "value" not in binary and base64.b64decode(binary["value_base64"]) == b"\xff\xfe\x00binary", binary
assert binary["tenant_id"] == "initech"
PY
echo "ok: dlq list shows the five dead letters with reason, detail, source, tenant and bytes"

list --reason limit_exceeded >"$WORK/limit.jsonl" || fail "dlq list --reason"
[[ $(grep -c '"error":"limit_exceeded"' "$WORK/limit.jsonl") -eq 2 && $(grep -c '"error"' "$WORK/limit.jsonl") -eq 2 ]] ||
    fail "--reason limit_exceeded: $(cat "$WORK/limit.jsonl")"
list --tenant globex >"$WORK/globex.jsonl" || fail "dlq list --tenant"
[[ $(grep -c '"error"' "$WORK/globex.jsonl") -eq 2 ]] || fail "--tenant globex: $(cat "$WORK/globex.jsonl")"
# Pages of 2: every letter once.
cursor=
: >"$WORK/paged.jsonl"
for _ in 1 2 3 4 5; do
    list --limit 2 ${cursor:+--cursor "$cursor"} >"$WORK/page.jsonl" || fail "dlq list --limit 2"
    grep '"error"' "$WORK/page.jsonl" >>"$WORK/paged.jsonl"
    cursor=$(tail -1 "$WORK/page.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"])')
    tail -1 "$WORK/page.jsonl" | grep -q '"more":false' && break
done
diff <(grep '"error"' "$WORK/all.jsonl" | sort) <(sort "$WORK/paged.jsonl") >/dev/null ||
    fail "paging by 2 did not give every letter once: $(cat "$WORK/paged.jsonl")"
list --cursor "1.x" >/dev/null 2>"$WORK/bad.err"; status=$?
[[ $status -eq 2 ]] || fail "a bad --cursor exited $status"
echo "ok: --reason, --tenant and paging by --limit/--cursor"

http() { curl -s -o "$WORK/http.body" -w '%{http_code}' "$@"; }
status=$(http -H "Authorization: Bearer $ADMIN" "$URL/v1/admin/dead-letters?reason=limit_exceeded&limit=1")
[[ $status == 200 ]] || fail "GET dead-letters answered $status: $(cat "$WORK/http.body")"
python3 - "$WORK/http.body" <<'PY' || fail "GET dead-letters: $(cat "$WORK/http.body")"
import json, sys
page = json.load(open(sys.argv[1]))
assert len(page["dead_letters"]) == 1 and page["dead_letters"][0]["error"] == "limit_exceeded", page
assert page["more"] is True and page["next_cursor"], page
PY
next=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["next_cursor"])' "$WORK/http.body")
status=$(http -H "Authorization: Bearer $ADMIN" "$URL/v1/admin/dead-letters?reason=limit_exceeded&cursor=$next")
[[ $status == 200 ]] && python3 -c '
import json, sys
page = json.load(open(sys.argv[1]))
assert len(page["dead_letters"]) == 1 and page["more"] is False, page' "$WORK/http.body" ||
    fail "the second page: $status $(cat "$WORK/http.body")"
status=$(http -H "Authorization: Bearer acme-key" "$URL/v1/admin/dead-letters")
[[ $status == 403 ]] || fail "a tenant key got $status"
status=$(http -H "Authorization: Bearer $ADMIN" "$URL/v1/admin/dead-letters?cursor=nonsense")
[[ $status == 400 ]] || fail "a bad cursor got $status"
status=$(http -H "Authorization: Bearer $ADMIN" "$URL/v1/admin/dead-letters?reasons=x")
[[ $status == 400 ]] || fail "an unknown parameter got $status"
echo "ok: GET /v1/admin/dead-letters pages the same letters (admin only)"
stop_up
echo "PASS"
