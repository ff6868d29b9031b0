#!/usr/bin/env bash
# Accounts and API keys over the admin API and the CLI (issue 17, acceptance 5), on a real
# `usage-ledger up`:
#   - accounts: PUT creates (201) and replaces (200, keys kept), GET one / list, refusals name the
#     field (unknown plan, bad zone, keys in the body, unknown field), DELETE (204, then 404);
#     `account set --url`, `account get`, `account list`, `account delete --url` do the same;
#   - keys: created over HTTP and with `key create` (shown once, listed without the secret), used
#     (last_used_at set), scope-limited (an ingest key gets 403 on reads and 200 on POST
#     /v1/events; a read key the reverse; only an admin-scoped tenant key manages keys, and only
#     its own tenant's, never /v1/admin), revoked over HTTP and with `key revoke` (401 after,
#     also after a restart of `up`), a key of a deleted account stops working.
# Usage: api_keys.sh BIN ROOT
set -uo pipefail
BIN=$1
ROOT=$2
# shellcheck source=tests/support/up_test_lib.sh
source "$ROOT/tests/support/up_test_lib.sh"
e2e_begin
fail() { up_failure "$@"; }

ADMIN=admin-keys
export UL_ADMIN_KEY=$ADMIN
up_start --admin-key "$ADMIN"
export UL_URL=$URL

# code METHOD PATH KEY [BODY]: prints the status; the body goes to $WORK/body.
code() {
    local args=(-s -o "$WORK/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $3")
    [[ $# -ge 4 ]] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
    curl "${args[@]}" "$URL$2"
}
# expect STATUS METHOD PATH KEY [BODY]
expect() {
    local want=$1 got
    shift
    got=$(code "$@")
    [[ "$got" == "$want" ]] || fail "$1 $2: $got, expected $want: $(cat "$WORK/body")"
}
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
event() {  # tenant idempotency-key
    printf '{"tenant_id":"%s","meter":"api_calls","quantity":"1","idempotency_key":"%s","timestamp":"%s"}' \
        "$1" "$2" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

# --- Accounts over HTTP.
expect 201 PUT /v1/admin/accounts/acme "$ADMIN" '{"plan":"pro","time_zone":"Europe/Paris"}'
[[ $(field "$WORK/body" plan) == pro && $(field "$WORK/body" time_zone) == Europe/Paris ]] ||
    fail "PUT answered $(cat "$WORK/body")"
expect 400 PUT /v1/admin/accounts/acme "$ADMIN" '{"plan":"platinum"}'
grep -q '"unknown_plan"' "$WORK/body" || fail "unknown plan: $(cat "$WORK/body")"
expect 400 PUT /v1/admin/accounts/acme "$ADMIN" '{"plan":"pro","time_zone":"Mars/Olympus"}'
grep -q 'account.time_zone' "$WORK/body" || fail "bad zone: $(cat "$WORK/body")"
expect 400 PUT /v1/admin/accounts/acme "$ADMIN" '{"plan":"pro","api_keys":[]}'
expect 400 PUT /v1/admin/accounts/acme "$ADMIN" '{"plan":"pro","colour":"red"}'
grep -q "unknown field 'colour'" "$WORK/body" || fail "unknown field: $(cat "$WORK/body")"
expect 400 PUT /v1/admin/accounts/acme "$ADMIN" 'not json'
expect 404 GET /v1/admin/accounts/nobody "$ADMIN"
expect 404 DELETE /v1/admin/accounts/nobody "$ADMIN"
# The CLI: set, get, list go through the same routes.
"$BIN" account set --url "$URL" --tenant globex --plan free >"$WORK/set.out" 2>"$WORK/cli.err" ||
    fail "account set --url: $(cat "$WORK/cli.err")"
"$BIN" account get --tenant globex >"$WORK/get.out" 2>"$WORK/cli.err" ||
    fail "account get: $(cat "$WORK/cli.err")"
[[ $(field "$WORK/get.out" plan) == free ]] || fail "account get: $(cat "$WORK/get.out")"
"$BIN" account set --url "$URL" --tenant globex --plan gold >/dev/null 2>"$WORK/cli.err" &&
    fail "account set --url with an unknown plan exited 0"
grep -q "unknown_plan" "$WORK/cli.err" || fail "account set gold: $(cat "$WORK/cli.err")"
"$BIN" account list >"$WORK/list.out" 2>"$WORK/cli.err" || fail "account list: $(cat "$WORK/cli.err")"
python3 - "$WORK/list.out" <<'PY' || fail "account list: $(cat "$WORK/list.out")"
import json, sys
page = json.load(open(sys.argv[1]))
assert [a["tenant_id"] for a in page["accounts"]] == ["acme", "globex"], page
assert page["next_cursor"] is None
PY
expect 200 GET '/v1/admin/accounts?limit=1' "$ADMIN"
[[ $(field "$WORK/body" next_cursor) == acme ]] || fail "limit=1: $(cat "$WORK/body")"
expect 200 GET '/v1/admin/accounts?limit=1&cursor=acme' "$ADMIN"
grep -q '"tenant_id":"globex"' "$WORK/body" || fail "cursor: $(cat "$WORK/body")"
expect 400 GET '/v1/admin/accounts?sort=x' "$ADMIN"

# --- Keys over HTTP.
expect 201 POST /v1/tenants/acme/keys "$ADMIN" '{"name":"ingest-svc","scopes":["ingest"]}'
INGEST=$(field "$WORK/body" key)
INGEST_ID=$(field "$WORK/body" id)
[[ $INGEST == ulk_* ]] || fail "no key in $(cat "$WORK/body")"
expect 201 POST /v1/tenants/acme/keys "$ADMIN" '{"name":"acme-admin","scopes":["admin","read"]}'
TENANT_ADMIN=$(field "$WORK/body" key)
expect 400 POST /v1/tenants/acme/keys "$ADMIN" '{"name":"x","scopes":["write"]}'
expect 400 POST /v1/tenants/acme/keys "$ADMIN" '{"name":"x"}'
expect 404 POST /v1/tenants/nobody/keys "$ADMIN" '{"name":"x","scopes":["read"]}'
# --- Keys with the CLI.
"$BIN" key create --tenant acme --name dashboard --scope read >"$WORK/key.out" 2>"$WORK/cli.err" ||
    fail "key create: $(cat "$WORK/cli.err")"
READ=$(field "$WORK/key.out" key)
READ_ID=$(field "$WORK/key.out" id)
"$BIN" key create --tenant acme --name bad --scope write >/dev/null 2>"$WORK/cli.err"
[[ $? -eq 2 ]] || fail "key create --scope write: not a usage error: $(cat "$WORK/cli.err")"

# Scopes: ingest posts events but cannot read; read reads but cannot post.
expect 200 POST /v1/events "$INGEST" "$(event acme e1)"
grep -q '"status":"accepted"' "$WORK/body" || fail "ingest key's event: $(cat "$WORK/body")"
expect 403 GET /v1/tenants/acme/usage "$INGEST"
grep -q '"insufficient_scope"' "$WORK/body" || fail "ingest key read: $(cat "$WORK/body")"
expect 403 GET /v1/tenants/acme/keys "$INGEST"
expect 200 GET /v1/tenants/acme/usage "$READ"
expect 403 POST /v1/events "$READ" "$(event acme e2)"
expect 403 POST /v1/tenants/acme/keys "$READ" '{"name":"x","scopes":["read"]}'
# A tenant key with the admin scope manages its own tenant's keys, nothing else.
expect 201 POST /v1/tenants/acme/keys "$TENANT_ADMIN" '{"name":"ci","scopes":["ingest"]}'
expect 403 GET /v1/tenants/globex/keys "$TENANT_ADMIN"
expect 403 GET /v1/admin/accounts "$TENANT_ADMIN"
expect 403 PUT /v1/admin/accounts/acme "$TENANT_ADMIN" '{"plan":"free"}'
expect 200 GET /v1/whoami "$INGEST"
grep -q "\"key_id\":\"$INGEST_ID\",\"scopes\":\[\"ingest\"\]" "$WORK/body" ||
    fail "whoami: $(cat "$WORK/body")"

# The listing: no secrets, no hashes; last use recorded.
"$BIN" key list --tenant acme >"$WORK/keys.out" 2>"$WORK/cli.err" || fail "key list: $(cat "$WORK/cli.err")"
python3 - "$WORK/keys.out" "$INGEST_ID" "$READ_ID" "$INGEST" <<'PY' || fail "key list: $(cat "$WORK/keys.out")"
import json, sys
listing, ingest_id, read_id, secret = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
text = open(listing).read()
assert secret not in text and "sha256" not in text, "a secret or hash is listed"
keys = {k["id"]: k for k in json.loads(text)["keys"]}
assert len(keys) == 4, keys
assert keys[ingest_id]["scopes"] == ["ingest"] and keys[ingest_id]["last_used_at"], keys[ingest_id]
assert keys[read_id]["name"] == "dashboard" and keys[read_id]["revoked_at"] is None
PY

# A PUT replaces the account but keeps its keys.
expect 200 PUT /v1/admin/accounts/acme "$ADMIN" '{"plan":"enterprise"}'
expect 200 GET /v1/tenants/acme/usage "$READ"
grep -q '"plan":"enterprise"' "$WORK/body" || fail "usage after PUT: $(cat "$WORK/body")"

# Revocation: over HTTP, and with the CLI; again is still 204; unknown is 404.
expect 204 DELETE "/v1/tenants/acme/keys/$INGEST_ID" "$ADMIN"
expect 204 DELETE "/v1/tenants/acme/keys/$INGEST_ID" "$ADMIN"
expect 404 DELETE /v1/tenants/acme/keys/key_nope "$ADMIN"
expect 401 POST /v1/events "$INGEST" "$(event acme e3)"
"$BIN" key revoke --tenant acme --id "$READ_ID" >/dev/null 2>"$WORK/cli.err" ||
    fail "key revoke: $(cat "$WORK/cli.err")"
expect 401 GET /v1/tenants/acme/usage "$READ"

# After a restart: revoked keys stay revoked, the others work.
stop_up
up_start --admin-key "$ADMIN"
export UL_URL=$URL
expect 401 GET /v1/tenants/acme/usage "$READ"
expect 401 POST /v1/events "$INGEST" "$(event acme e4)"
expect 200 GET /v1/tenants/acme/keys "$TENANT_ADMIN"
grep -q "\"id\":\"$INGEST_ID\"[^}]*\"revoked_at\":\"" "$WORK/body" ||
    fail "the revoked key is not listed as revoked: $(cat "$WORK/body")"

# Deleting the account: its keys stop working; the CLI deletes over HTTP too.
expect 204 DELETE /v1/admin/accounts/acme "$ADMIN"
expect 401 GET /v1/tenants/acme/keys "$TENANT_ADMIN"
expect 404 GET /v1/admin/accounts/acme "$ADMIN"
"$BIN" account delete --url "$URL" --tenant globex >/dev/null 2>"$WORK/cli.err" ||
    fail "account delete --url: $(cat "$WORK/cli.err")"
"$BIN" account get --tenant globex >/dev/null 2>&1 && fail "account get after delete exited 0"
stop_up
echo "PASS: accounts and keys over HTTP and the CLI"
