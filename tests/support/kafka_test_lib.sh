# Shared by the tests/e2e/kafka_*.sh scripts (sourced, not run): failing with the tail of the
# nodes' logs, polling a condition with a deadline, stopping a process, and reading the
# projection's address and metrics. The sourcing script sets DIR (the ops/kafka --dir of its
# cluster), WORK (its work directory, with the projection's log in project.log) and API (the
# projection's host:port, once known) before it calls them.

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

# poll SECONDS WHAT COMMAND...: from up_test_lib.sh
# shellcheck source=tests/support/up_test_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/up_test_lib.sh"

# stop_process PID: SIGTERM, up to 20 s for a clean exit, then SIGKILL
stop_process() {
    local pid=$1 deadline=$((SECONDS + 20))
    [[ -n $pid ]] || return 0
    kill "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# api_address: the projection's query API address (host:port), as its log says
api_address() { grep -o 'query API on http://[0-9.]*:[0-9]*' "$WORK/project.log" | head -n 1 | sed 's|.*http://||'; }

metric() { # metric NAME: its value on the projection's /metrics
    curl -s "http://$API/metrics" | awk -v name="$1" '$1 == name { print $2; found = 1 } END { exit !found }'
}
