#!/usr/bin/env bash
# The dashboard as an operator uses it, in Debian's Chromium driven by Playwright
# (tests/dashboard/dashboard_test.mjs, with the playwright-core and axe-core that
# tests/dashboard/package-lock.json pins, installed by `npm ci` into a cache directory keyed by the
# lock file's hash, as tests/openapi/lint.sh does; no browser is downloaded). `up --demo` serves
# it; the script checks the admin overview (every tenant, % per meter, status, sorting by
# closeness to the limit, the search box, a tenant created meanwhile appearing without a reload),
# a tenant's view (charts with axis ticks and dates in its time zone, formatted numbers, the
# hour/day/month switch, tooltips that survive refreshes), the security headers, no horizontal
# scroll at 390 px and axe-core (no critical violation). Screenshots beside the binary:
# dashboard-playwright-desktop.png, dashboard-playwright-phone.png.
# Usage: dashboard_playwright.sh BIN ROOT
set -euo pipefail
BIN=$1
ROOT=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
OUT_DIR=$(cd "$(dirname "$BIN")/.." && pwd)
HERE=$ROOT/tests/dashboard
source "$ROOT/tests/support/up_test_lib.sh"
e2e_begin
fail() { up_failure "$@"; }
command -v npm >/dev/null || fail "npm is missing (ops/install-deps installs it)"
CHROMIUM=$(command -v chromium || command -v chromium-browser) || fail "chromium is not installed"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
((NODE_MAJOR >= 18)) || fail "playwright-core 1.60 needs Node >= 18, this is $(node --version)"

LOCK_SHA=$(sha256sum "$HERE/package-lock.json" | cut -c1-16)
PREFIX=${UL_NPM_CACHE:-$HOME/.cache/usage-ledger/npm}/dashboard-$LOCK_SHA
if [[ ! -f "$PREFIX/node_modules/playwright-core/package.json" ||
    ! -f "$PREFIX/node_modules/axe-core/axe.min.js" ]]; then
    # Install into a fresh directory and move it in place, so a half-done install is never used.
    mkdir -p "$(dirname "$PREFIX")"
    TMP=$(mktemp -d "$PREFIX.tmp.XXXXXX")
    cp "$HERE/package.json" "$HERE/package-lock.json" "$TMP/"
    (cd "$TMP" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) ||
        { rm -rf "$TMP"; fail "npm ci failed"; }
    rm -rf "$PREFIX"
    mv "$TMP" "$PREFIX"
fi

ADMIN=admin-playwright
up_start --demo --admin-key "$ADMIN" --cors-origin https://app.example.com
echo "up: $URL"
# --cors-origin reaches the server: an allowed origin's preflight and GET are answered with
# Access-Control-Allow-Origin; another origin gets none.
preflight=$(curl -s -o /dev/null -D - -X OPTIONS -H "Origin: https://app.example.com" \
    -H "Access-Control-Request-Method: GET" -H "Access-Control-Request-Headers: authorization" \
    "$URL/v1/tenants/demo-free/usage" | tr -d '\r')
[[ "$preflight" == "HTTP/1.1 204"* &&
    "$preflight" == *$'\nAccess-Control-Allow-Origin: https://app.example.com\n'* &&
    "$preflight" == *$'\nAccess-Control-Allow-Headers: Authorization'* ]] ||
    fail "preflight from an allowed origin: $preflight"
allowed=$(curl -s -o /dev/null -D - -H "Origin: https://app.example.com" \
    -H "Authorization: Bearer $ADMIN" "$URL/v1/whoami" | tr -d '\r')
[[ "$allowed" == "HTTP/1.1 200"* && "$allowed" == *$'\nAccess-Control-Allow-Origin: https://app.example.com\n'* &&
    "$allowed" == *$'\nX-Content-Type-Options: nosniff\n'* &&
    "$allowed" == *$'\nContent-Security-Policy: default-src \'none\'; frame-ancestors \'none\'\n'* ]] ||
    fail "GET from an allowed origin: $allowed"
other=$(curl -s -o /dev/null -D - -H "Origin: https://evil.example" \
    -H "Authorization: Bearer $ADMIN" "$URL/v1/whoami" | tr -d '\r')
[[ "$other" == "HTTP/1.1 200"* && "$other" != *Access-Control-Allow-Origin* ]] ||
    fail "GET from another origin: $other"
echo "ok: CORS for --cors-origin only; JSON answers carry CSP and nosniff"
UL_URL="$URL/" UL_ADMIN_KEY="$ADMIN" UL_BIN="$BIN" UL_BOOTSTRAP="$WORK/data/bootstrap" \
    UL_OUT_DIR="$OUT_DIR" UL_CHROMIUM="$CHROMIUM" UL_NODE_MODULES="$PREFIX/node_modules" \
    timeout 300 node "$HERE/dashboard_test.mjs" || fail "dashboard_test.mjs failed"
stop_up
echo "ok: screenshots $OUT_DIR/dashboard-playwright-desktop.png, dashboard-playwright-phone.png"
