#!/usr/bin/env bash
# Bad usage gives exit 2 and one clear line on stderr, never a trace or an abort;
# --help on every command tells the truth and exits 0.
set -uo pipefail
BIN=$1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0

expect_usage_error() {  # description, then the command's arguments
    local description=$1
    shift
    "$BIN" "$@" >"$WORK/out" 2>"$WORK/err"
    local status=$?
    local lines
    lines=$(wc -l <"$WORK/err")
    if [[ $status -ne 2 || $lines -ne 1 ]] || grep -qiE 'terminate|abort|exception|what\(\)' "$WORK/err"; then
        echo "FAIL ($description): exit $status, $lines stderr lines:"
        cat "$WORK/err"
        failures=$((failures + 1))
    else
        echo "ok   ($description): $(cat "$WORK/err")"
    fi
}

expect_help() {
    "$BIN" "$@" --help >"$WORK/out" 2>"$WORK/err"
    local status=$?
    if [[ $status -ne 0 ]] || ! grep -q -- '--help' "$WORK/out"; then
        echo "FAIL (help of '$*'): exit $status"
        cat "$WORK/out" "$WORK/err"
        failures=$((failures + 1))
    else
        echo "ok   (help of '$*')"
    fi
}

expect_usage_error "no subcommand"
expect_usage_error "unknown subcommand" frobnicate
expect_usage_error "unknown flag" emit --frobnicate
expect_usage_error "missing file" emit --dry-run --file "$WORK/does-not-exist.jsonl"
expect_usage_error "unreadable bootstrap file" emit --bootstrap-file "$WORK/nope" --file /dev/null
: >"$WORK/empty-bootstrap"
expect_usage_error "empty bootstrap file" emit --bootstrap-file "$WORK/empty-bootstrap" --file /dev/null
expect_usage_error "no bootstrap" emit --file /dev/null
expect_usage_error "both bootstrap flags" emit --bootstrap 127.0.0.1:9092 --bootstrap-file "$WORK/x" --file /dev/null
expect_usage_error "bad duration" emit --dry-run --max-event-age 35 --file /dev/null
expect_usage_error "bad duration unit" emit --dry-run --max-event-age 3w --file /dev/null
expect_usage_error "file and flags together" emit --dry-run --file /dev/null --tenant acme --meter tokens --quantity 1
expect_usage_error "partial flags" emit --dry-run --tenant acme
expect_usage_error "bad log format" --log-format yaml emit --dry-run --file /dev/null
expect_usage_error "bad partitions" broker --partitions 0
expect_usage_error "not a connection setting" ledger --bootstrap 127.0.0.1:1 --kafka-config acks=1
expect_usage_error "kafka setting without a value" ledger --bootstrap 127.0.0.1:1 --kafka-config sasl.mechanism
expect_usage_error "bad min free disk" ledger --bootstrap 127.0.0.1:1 --min-free-disk 1.5GiB
expect_usage_error "replay into nothing" replay
expect_usage_error "reconcile without a tenant" reconcile
expect_usage_error "reconcile without a store" reconcile --tenant acme --data-dir "$WORK/nothing"

expect_help
expect_help up
expect_help broker
expect_help emit
expect_help bench
expect_help reconcile
expect_help replay

exit $((failures > 0))
