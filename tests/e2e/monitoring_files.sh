#!/usr/bin/env bash
# The monitoring files name only metrics that exist: starts `up` (with Stripe billing on, so the
# billing_* families are exported; its Stripe is an address nobody answers, and nothing is
# billed) on a temp data dir, sends a few requests, scrapes /metrics, checks it with
# `promtool check metrics`, that the requests were counted by route pattern, and that every
# metric name in the expressions of ops/prometheus/rules.yml and ops/grafana/usage-ledger.json
# is exported (tests/support/metric_names.py; a histogram's _bucket/_sum/_count map to it).
# Usage: monitoring_files.sh BIN ROOT
set -uo pipefail
BIN=$1
ROOT=$2
# shellcheck source=tests/support/up_test_lib.sh
source "$ROOT/tests/support/up_test_lib.sh"
WORK=$(mktemp -d)
UP_PID=
cleanup() {
    [[ -n "$UP_PID" ]] && kill -9 "$UP_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    echo "--- up stdout"; cat "$WORK/up.out"; echo "--- up stderr"; tail -30 "$WORK/up.err"
    exit 1
}

echo "sk_test_monitoring" >"$WORK/stripe.key"
"$BIN" up --data-dir "$WORK/data" --listen 127.0.0.1:0 --admin-key admin-monitoring \
    --stripe-secret-key-file "$WORK/stripe.key" --stripe-api-base http://127.0.0.1:9 \
    >"$WORK/up.out" 2>"$WORK/up.err" &
UP_PID=$!
URL=$(up_dashboard_url "$UP_PID" "$WORK/up.out" 120) || fail "$URL"

# Requests to count: a tenant route (401 without a key), an unknown path, health.
curl -s -o /dev/null "${URL}healthz"
curl -s -o /dev/null "${URL}v1/tenants/acme/usage"
curl -s -o /dev/null "${URL}no/such/path"
curl -sf "${URL}metrics" >"$WORK/metrics.txt" || fail "GET /metrics failed"
promtool check metrics <"$WORK/metrics.txt" || fail "promtool check metrics refused /metrics"

for line in 'http_requests_total{route="/healthz",status="200"} 1' \
    'http_requests_total{route="/v1/tenants/{tenant}/usage",status="401"} 1' \
    'http_requests_total{route="other",status="404"} 1' \
    'http_request_duration_seconds_count{route="/healthz"} 1'; do
    grep -qxF "$line" "$WORK/metrics.txt" || fail "/metrics lacks: $line"
done
grep -q 'route="/v1/tenants/acme' "$WORK/metrics.txt" && fail "a raw path became a route label"
for name in process_resident_memory_bytes process_cpu_seconds_total process_open_fds \
    process_start_time_seconds billing_breaker_open; do
    grep -q "^$name " "$WORK/metrics.txt" || fail "/metrics lacks $name"
done

python3 "$ROOT/tests/support/metric_names.py" "$WORK/metrics.txt" \
    "$ROOT/ops/prometheus/rules.yml" "$ROOT/ops/grafana/usage-ledger.json" ||
    fail "the monitoring files use metric names /metrics does not export"

stop_up
echo "ok: rules and dashboard use only exported metric names"
