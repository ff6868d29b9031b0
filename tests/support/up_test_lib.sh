# Shared by e2e scripts that start `usage-ledger up` in the background (sourced, not run), and
# by tests/support/kafka_test_lib.sh. The sourcing script defines `fail MESSAGE...` (print what
# helps, exit 1), which `poll` calls at its deadline.

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

# up_dashboard_url PID OUT SECONDS: waits until `up` (pid PID, its stdout in OUT) says it is
# ready ("Stop with Ctrl-C") and prints its dashboard URL without the key fragment
# (http://127.0.0.1:PORT/). OUT must be emptied before `up` starts (a restart would otherwise
# read the last run's lines). On failure prints the reason instead and returns 1: `up` exited, the
# deadline passed, or it printed no URL. Polls; never sleeps for a fixed time to wait.
up_dashboard_url() {
    local pid=$1 out=$2 deadline=$((SECONDS + $3)) url
    until grep -q "Stop with Ctrl-C" "$out" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || { echo "up exited before it was ready"; return 1; }
        ((SECONDS < deadline)) || { echo "up not ready within $3 s"; return 1; }
        sleep 0.1
    done
    url=$(sed -n 's/^ *dashboard: *\(http:[^#]*\)#key=.*/\1/p' "$out")
    [[ "$url" == http://127.0.0.1:* ]] || { echo "up printed no dashboard URL"; return 1; }
    echo "$url"
}

# stop_up: stops the `up` whose pid is in UP_PID with SIGINT, waits up to 60 s for it to exit,
# clears UP_PID, and fails the test unless it exited 0.
stop_up() {
    local deadline=$((SECONDS + 60)) status
    kill -INT "$UP_PID"
    while kill -0 "$UP_PID" 2>/dev/null; do
        ((SECONDS < deadline)) || fail "up did not stop within 60 s of SIGINT"
        sleep 0.1
    done
    wait "$UP_PID"
    status=$?
    UP_PID=
    [[ $status -eq 0 ]] || fail "up exited $status"
}

# dashboard_dom URL OUT: headless Chromium renders URL (the dashboard with #key=…) and writes its
# DOM to OUT once the page's scripts ran (a virtual-time budget, not a wall-clock wait).
dashboard_dom() {
    local chromium
    chromium=$(command -v chromium || command -v chromium-browser) || fail "chromium is not installed"
    timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --user-data-dir="$(mktemp -d)" --window-size=1100,1000 --virtual-time-budget=6000 \
        --dump-dom "$1" >"$2" 2>/dev/null || fail "chromium --dump-dom of $1 failed"
}

# e2e_begin: WORK (a new temp dir) and UP_PID (empty); at exit, `up` is killed if it still runs
# and WORK is removed. A script then defines fail, e.g. `fail() { up_failure "$@"; }`.
e2e_begin() {
    WORK=$(mktemp -d)
    UP_PID=
    trap e2e_end EXIT
}
e2e_end() {
    [[ -n "${UP_PID:-}" ]] && kill -9 "$UP_PID" 2>/dev/null
    rm -rf "$WORK"
}
# up_failure MESSAGE…: prints FAIL and the end of up's stderr, exits 1.
up_failure() {
    echo "FAIL: $*"
    echo "--- up stderr"
    tail -40 "$WORK/up.err" 2>/dev/null
    exit 1
}

# up_start ARGS…: starts `$BIN up --data-dir $WORK/data --listen 127.0.0.1:0 ARGS…` in the
# background (UP_PID; stdout in $WORK/up.out, emptied first; stderr appended to $WORK/up.err)
# and sets URL to its dashboard URL without the trailing slash; fails the test when it is not
# ready within 120 s.
up_start() {
    : >"$WORK/up.out"
    "$BIN" up --data-dir "$WORK/data" --listen 127.0.0.1:0 "$@" >"$WORK/up.out" 2>>"$WORK/up.err" &
    UP_PID=$!
    URL=$(up_dashboard_url "$UP_PID" "$WORK/up.out" 120) || fail "$URL"
    URL=${URL%/}
}
