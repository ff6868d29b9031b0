# Shared by the tests/e2e/kafka_*.sh scripts (sourced, not run): failing with the tail of the
# nodes' logs, and polling a condition with a deadline. The sourcing script sets DIR (the
# ops/kafka --dir of its cluster) before it calls them.

# fail MESSAGE...: the message, the last lines of every node's server.log, and exit 1.
fail() {
    echo "FAIL: $*" >&2
    local log
    for log in "$DIR"/node-*/server.log; do
        if [[ -f $log ]]; then
            echo "--- tail of ${log#"$DIR"/}" >&2
            tail -n 20 "$log" >&2
        fi
    done
    echo "0 passed, 1 failed"
    exit 1
}

# poll SECONDS WHAT COMMAND...: runs COMMAND until it succeeds, or fails the test at the deadline
poll() {
    local secs=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "timed out after $secs s: $what"
        sleep 0.2
    done
}
