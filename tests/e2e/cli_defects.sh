#!/usr/bin/env bash
# Issue 17, "no silent wrong answers", at the command line:
# 1. a bad --config (not a plans file, or no such file) is one line and exit 2 for `up`,
#    `project` and `account set`, and nothing in the data directory is touched;
# 2. a second `up` on the same --data-dir stops at the directory's lock (exit 2, naming the
#    first one's pid) without touching its bootstrap file;
# 3. `emit` exits 1 when a line (or the event given by flags) is invalid, unless
#    --allow-invalid (then 0 once the valid ones are delivered); all-invalid is always 1;
# 4. an unknown command is named as such (with a near miss suggested); a usage error in a
#    subcommand points at that subcommand's --help;
# 5. `account set` without --time-zone publishes and prints "time_zone":"UTC";
# 6. `emit --property KEY=VALUE` (repeatable, checked), `up --max-event-age/--lenient/--sync`
#    as the ledger has them, and `--batch-size` everywhere a batch size is set.
# Usage: cli_defects.sh BIN ROOT
set -euo pipefail
BIN=$1
ROOT=$2
WORK=$(mktemp -d)
UP_PID=
cleanup() {
    if [[ -n "$UP_PID" ]]; then
        kill -9 "$UP_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
ok() { echo "ok   $*"; }

# run ARGS...: runs the binary (at most $RUN_TIMEOUT s, default 120; killed 5 s after SIGTERM,
# which `up` blocks) with stdin closed; sets STATUS, leaves
# $WORK/out and $WORK/err.
STATUS=0
run() {
    STATUS=0
    timeout -k 5 "${RUN_TIMEOUT:-120}" "$BIN" "$@" </dev/null >"$WORK/out" 2>"$WORK/err" ||
        STATUS=$?
}

# expect_one_line_error DESCRIPTION STATUS [TEXT]: the last run exited STATUS with one stderr
# line (holding TEXT, when given) and no abort.
expect_one_line_error() {
    local description=$1 expected=$2 text=${3:-}
    local lines
    lines=$(wc -l <"$WORK/err")
    if [[ $STATUS -ne $expected || $lines -ne 1 ]] ||
        grep -qiE 'terminate|abort|exception|what\(\)' "$WORK/err" ||
        { [[ -n "$text" ]] && ! grep -qF -- "$text" "$WORK/err"; }; then
        fail "$description: exit $STATUS (want $expected), $lines stderr lines (want 1${text:+ holding '$text'}):"
        cat "$WORK/err"
        return 1
    fi
    ok "$description: $(cat "$WORK/err")"
}

# A listing of a directory (names, sizes, contents' checksums) to compare before and after.
snapshot() {
    (cd "$1" && find . -print0 | sort -z | xargs -0 -r stat -c '%n %s %Y' &&
        find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds (0);
# gives up at once when it answers 2 (never will), else at the deadline.
wait_for() {
    local description=$1 seconds=$2
    shift 2
    local deadline=$((SECONDS + seconds)) answer
    while true; do
        answer=0
        "$@" || answer=$?
        ((answer == 0)) && return 0
        if ((answer == 2)); then
            fail "$description: gave up"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            fail "$description: not within ${seconds}s"
            return 1
        fi
        sleep 0.1
    done
}

# --- 1. a bad --config ------------------------------------------------------------------------
RUN_TIMEOUT=20  # a refusal is immediate; before the fix `up` hung or aborted here
echo '{"plans": [ {"id": "pro", ' >"$WORK/not-json.json"
echo '{"plans": 42}' >"$WORK/not-plans.json"
for config in "$WORK/not-json.json" "$WORK/not-plans.json" "$WORK/no-such-plans.json"; do
    name=$(basename "$config")
    # up: the data directory exists (a previous run's) and must stay as it was.
    mkdir -p "$WORK/up-$name"
    echo previous >"$WORK/up-$name/kept"
    before=$(snapshot "$WORK/up-$name")
    run up --data-dir "$WORK/up-$name" --listen 127.0.0.1:0 --config "$config"
    expect_one_line_error "up --config $name" 2 "$config" || true
    [[ "$(snapshot "$WORK/up-$name")" == "$before" ]] ||
        fail "up --config $name touched its data dir: $(ls -A "$WORK/up-$name" | tr '\n' ' ')"
    # up on a data directory that does not exist yet: it is not created.
    run up --data-dir "$WORK/up-new-$name" --listen 127.0.0.1:0 --config "$config"
    expect_one_line_error "up --config $name, new data dir" 2 "$config" || true
    [[ ! -e "$WORK/up-new-$name" ]] || fail "up --config $name created its data dir"

    mkdir -p "$WORK/project-$name"
    before=$(snapshot "$WORK/project-$name")
    run project --bootstrap 127.0.0.1:1 --data-dir "$WORK/project-$name" --listen 127.0.0.1:0 \
        --config "$config"
    expect_one_line_error "project --config $name" 2 "$config" || true
    [[ "$(snapshot "$WORK/project-$name")" == "$before" ]] ||
        fail "project --config $name touched its data dir: $(ls -A "$WORK/project-$name" | tr '\n' ' ')"

    mkdir -p "$WORK/account-$name"
    echo 127.0.0.1:1 >"$WORK/account-$name/bootstrap"
    before=$(snapshot "$WORK/account-$name")
    run account set --bootstrap-file "$WORK/account-$name/bootstrap" --tenant acme --plan pro \
        --config "$config"
    expect_one_line_error "account set --config $name" 2 "$config" || true
    [[ "$(snapshot "$WORK/account-$name")" == "$before" ]] ||
        fail "account set --config $name touched the data dir"
done

RUN_TIMEOUT=120

# --- 4. unknown commands, and usage errors that point at the subcommand's help ----------------
run upp
expect_one_line_error "near-miss command" 2 "unknown command 'upp'" &&
    { grep -qF "did you mean 'up'" "$WORK/err" || fail "upp: no suggestion of 'up'"; }
run --log-format json emitt --dry-run
expect_one_line_error "near-miss command after a global option" 2 "unknown command 'emitt'" &&
    { grep -qF "did you mean 'emit'" "$WORK/err" || fail "emitt: no suggestion of 'emit'"; }
run frobnicate
expect_one_line_error "far-off command" 2 "unknown command 'frobnicate'" &&
    { ! grep -qF "did you mean" "$WORK/err" || fail "frobnicate: a suggestion for a far miss"; }
run emit --nope
expect_one_line_error "unknown flag of emit" 2 "see usage-ledger emit --help" || true
run account set --nope
expect_one_line_error "unknown flag of account set" 2 "see usage-ledger account set --help" || true
run up --config "$WORK/no-such-plans.json"
expect_one_line_error "missing --config of up" 2 "see usage-ledger up --help" || true

# --- 3. emit's exit status: dry runs ----------------------------------------------------------
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
valid_line() {
    echo "{\"idempotency_key\":\"$1\",\"tenant_id\":\"acme\",\"meter\":\"tokens\",\"quantity\":\"10\",\"timestamp\":\"$NOW\"}"
}
valid_line v1 >"$WORK/valid.jsonl"
{ valid_line m1; echo '{"tenant_id":"acme","meter":"tokens"}'; } >"$WORK/mixed.jsonl"
{ echo 'not json'; echo '{"tenant_id":"acme"}'; } >"$WORK/invalid.jsonl"

# expect_status DESCRIPTION STATUS: the last run exited STATUS.
expect_status() {
    if [[ $STATUS -ne $2 ]]; then
        fail "$1: exit $STATUS, want $2"
        cat "$WORK/out" "$WORK/err"
        return 1
    fi
    ok "$1: exit $STATUS"
}
run emit --dry-run --file "$WORK/valid.jsonl"
expect_status "emit --dry-run, all valid" 0 || true
run emit --dry-run --file "$WORK/mixed.jsonl"
expect_status "emit --dry-run, one invalid line" 1 &&
    { grep -qF '"invalid":1' "$WORK/out" || fail "emit --dry-run printed no summary"; }
run emit --dry-run --allow-invalid --file "$WORK/mixed.jsonl"
expect_status "emit --dry-run --allow-invalid, one invalid line" 0 || true
run emit --dry-run --file "$WORK/invalid.jsonl"
expect_status "emit --dry-run, all invalid" 1 || true
run emit --dry-run --allow-invalid --file "$WORK/invalid.jsonl"
expect_status "emit --dry-run --allow-invalid, all invalid" 1 || true
run emit --dry-run --tenant acme --meter tokens --quantity lots
expect_status "emit --dry-run, an invalid event from flags" 1 || true
run emit --dry-run --tenant acme --meter tokens --quantity 1 --property model=gpt-4o \
    --property 'note=a "quoted" = sign'
expect_status "emit --dry-run, an event from flags with two properties" 0 &&
    { grep -qF '"valid":1' "$WORK/out" || fail "emit --property: $(cat "$WORK/out")"; }
run emit --dry-run --tenant acme --meter tokens --quantity 1 --property model
expect_status "emit --property without =" 2 || true
run emit --dry-run --tenant acme --meter tokens --quantity 1 --property a=1 --property a=2
expect_status "emit --property twice for one key" 2 || true
run up --help
for flag in --max-event-age --lenient --sync; do
    grep -qF -- "$flag" "$WORK/out" || fail "up --help lists no $flag"
done
run bench ledger --help
grep -qF -- "--batch-size" "$WORK/out" || fail "bench ledger has no --batch-size (as ledger has)"
run emit --help
if [[ $STATUS -ne 0 ]] || ! grep -qF -- '--allow-invalid' "$WORK/out" ||
    ! grep -qiE 'exit status: 0 .*1 .*2 usage error' <(tr '\n' ' ' <"$WORK/out"); then
    fail "emit --help does not document --allow-invalid and the exit statuses"
    cat "$WORK/out"
else
    ok "emit --help documents the exit statuses"
fi

# --- 2. one `up` per data directory -----------------------------------------------------------
LIVE="$WORK/live"
"$BIN" up --data-dir "$LIVE" --listen 127.0.0.1:0 </dev/null >"$WORK/up.out" 2>"$WORK/up.err" &
UP_PID=$!
up_ready() {
    kill -0 "$UP_PID" 2>/dev/null || { echo "up exited early"; return 2; }
    # 1, not grep's 2, while up.out is not there yet (the shell opens it in the child).
    grep -q "Stop with Ctrl-C" "$WORK/up.out" 2>/dev/null || return 1
}
if ! wait_for "first up ready" 120 up_ready; then
    echo "--- up stdout"; cat "$WORK/up.out"; echo "--- up stderr"; tail -20 "$WORK/up.err"
    exit 1
fi
cp "$LIVE/bootstrap" "$WORK/bootstrap.before"
run up --data-dir "$LIVE" --listen 127.0.0.1:0
expect_one_line_error "second up on the same data dir" 2 \
    "another usage-ledger is running on $LIVE (pid $UP_PID)" || true
cmp -s "$LIVE/bootstrap" "$WORK/bootstrap.before" ||
    fail "the second up changed the bootstrap file: $(cat "$LIVE/bootstrap" 2>&1)"
kill -0 "$UP_PID" 2>/dev/null || fail "the first up died beside the second"

# --- 3. emit's exit status: delivered --------------------------------------------------------
run emit --bootstrap-file "$LIVE/bootstrap" --file "$WORK/mixed.jsonl"
expect_status "emit, one invalid line" 1 &&
    { grep -qF '"delivered":1' "$WORK/out" || fail "emit did not deliver the valid line"; }
valid_line m2 >"$WORK/mixed2.jsonl"
echo '{"tenant_id":"acme"}' >>"$WORK/mixed2.jsonl"
run emit --bootstrap-file "$LIVE/bootstrap" --allow-invalid --file "$WORK/mixed2.jsonl"
expect_status "emit --allow-invalid, one invalid line" 0 &&
    { grep -qF '"delivered":1' "$WORK/out" || fail "emit --allow-invalid did not deliver"; }
run emit --bootstrap-file "$LIVE/bootstrap" --tenant acme --meter tokens --quantity 1.2.3
expect_status "emit, an invalid event from flags" 1 || true

# --- 5. account set without --time-zone -------------------------------------------------------
run account set --bootstrap-file "$LIVE/bootstrap" --tenant acme --plan pro
if expect_status "account set" 0; then
    grep -qF '"time_zone":"UTC"' "$WORK/out" ||
        fail "account set printed no explicit UTC zone: $(cat "$WORK/out")"
fi

# --- stop the first up -----------------------------------------------------------------------
kill -INT "$UP_PID"
up_gone() { ! kill -0 "$UP_PID" 2>/dev/null; }
if wait_for "up stops on SIGINT" 120 up_gone; then
    status=0
    wait "$UP_PID" || status=$?
    UP_PID=
    [[ $status -eq 0 ]] || fail "the first up exited $status: $(tail -5 "$WORK/up.err")"
fi

if ((failures > 0)); then
    echo "FAIL: $failures check(s) failed"
    exit 1
fi
echo "ok: all checks passed (ROOT $ROOT)"
