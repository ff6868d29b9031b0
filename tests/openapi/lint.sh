#!/usr/bin/env bash
# Lints schemas/openapi.yaml with @redocly/cli, the version package-lock.json pins. The linter is
# installed with `npm ci` into a cache directory keyed by the lock file's hash
# (${UL_NPM_CACHE:-$HOME/.cache/usage-ledger/npm}/openapi-<sha256>), so it is fetched once per
# pinned version and never from the working tree. Rules: redocly.yaml (the repository root).
# Usage: lint.sh ROOT
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
HERE=$ROOT/tests/openapi
command -v npm >/dev/null || { echo "lint.sh: npm is missing (ops/install-deps installs it)"; exit 1; }

LOCK_SHA=$(sha256sum "$HERE/package-lock.json" | cut -c1-16)
PREFIX=${UL_NPM_CACHE:-$HOME/.cache/usage-ledger/npm}/openapi-$LOCK_SHA
if [[ ! -x "$PREFIX/node_modules/.bin/redocly" ]]; then
    # Install into a fresh directory and move it in place, so a half-done install is never used.
    mkdir -p "$(dirname "$PREFIX")"
    TMP=$(mktemp -d "$PREFIX.tmp.XXXXXX")
    trap 'rm -rf "$TMP"' EXIT
    cp "$HERE/package.json" "$HERE/package-lock.json" "$TMP/"
    (cd "$TMP" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
    rm -rf "$PREFIX"
    mv "$TMP" "$PREFIX"
    trap - EXIT
fi
cd "$ROOT"
exec "$PREFIX/node_modules/.bin/redocly" lint --config "$ROOT/redocly.yaml" schemas/openapi.yaml
