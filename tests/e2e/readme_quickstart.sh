#!/usr/bin/env bash
# Issue 17, acceptance 2: the README's quick start, pasted line by line into a shell, works.
#
# The lines are not copied here: they are read from README.md, the fenced ```sh block that
# follows the sentence "From another terminal", so this test breaks when the README changes
# and the lines stop working. It
# 1. copies the working tree (without build directories, .git and data/) to a temp dir: the
#    lines run from the repository root, as the README says, and write events.jsonl there;
# 2. starts `up --demo --data-dir <copy>/data --listen 127.0.0.1:0` in the copy (the README's
#    `./ops/up --demo --data-dir data`, with a port nobody else holds);
# 3. runs the extracted lines in order in one bash (as pasted into one terminal), stdin closed,
#    with exactly these substitutions and no others:
#      - the value of the `B=` line becomes the binary under test (the README's is
#        build/release/ops/usage-ledger, what ./ops/up builds);
#      - `127.0.0.1:8080` becomes the address `up` bound;
#      - the data dir is not rewritten: `data/bootstrap` in the lines is `up`'s data dir,
#        because `up` runs with <copy>/data and the lines run in <copy>;
# 4. checks each line's exit status against its comment: "exits N" / "exit N", else 0;
# 5. checks the curl line answers 200 with acme's usage JSON counting every valid acme event
#    the lines emitted (the file's valid lines, found from the dry run's report, and the events
#    given by flags), each once although the file is sent twice. The curl line is run again
#    (unchanged) until the ledger and the projection have caught up, for at most 30 s.
# `up` is stopped by its pid at the end (trap). Runs in well under 2 minutes.
# Usage: readme_quickstart.sh BIN ROOT
set -euo pipefail
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ROOT=$2
# shellcheck source=tests/support/up_test_lib.sh
source "$ROOT/tests/support/up_test_lib.sh"
WORK=$(mktemp -d)
COPY=$WORK/repo
UP_PID=
cleanup() {
    if [[ -n "$UP_PID" ]] && kill -0 "$UP_PID" 2>/dev/null; then
        kill -TERM "$UP_PID" 2>/dev/null || true
        local deadline=$((SECONDS + 20))
        while kill -0 "$UP_PID" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.1
        done
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
die() {
    echo "FAIL: $*"
    echo "--- up stdout"
    cat "$WORK/up.out" 2>/dev/null || true
    echo "--- up stderr (last 20 lines)"
    tail -20 "$WORK/up.err" 2>/dev/null || true
    exit 1
}

# --- the block ---------------------------------------------------------------------------------
mapfile -t LINES < <(awk '
    /From another terminal/ { seen = 1 }
    seen && !inside && /^```sh[[:space:]]*$/ { inside = 1; next }
    inside && /^```/ { exit }
    inside && NF { print }
' "$ROOT/README.md")
((${#LINES[@]} > 0)) || die "README.md: no \`\`\`sh block after \"From another terminal\""
echo "README quick start (${#LINES[@]} lines):"
printf '    %s\n' "${LINES[@]}"
[[ $(printf '%s\n' "${LINES[@]}" | grep -c '^B=') == 1 ]] ||
    die "the block should set B= (the binary) on one line of its own"
printf '%s\n' "${LINES[@]}" | grep -q '127\.0\.0\.1:8080' ||
    die "the block names no 127.0.0.1:8080 (up's default --listen) to point at this test's up"
printf '%s\n' "${LINES[@]}" | grep -q '^curl .*/v1/tenants/acme/usage' ||
    die "the block has no curl line asking for acme's usage"

# --- the copy and up ---------------------------------------------------------------------------
mkdir -p "$COPY"
tar -C "$ROOT" --exclude=./.git --exclude=./build --exclude='./build-*' --exclude=./data \
    --exclude=./events.jsonl -cf - . | tar -C "$COPY" -xf -
(cd "$COPY" && exec "$BIN" up --demo --data-dir "$COPY/data" --listen 127.0.0.1:0) \
    </dev/null >"$WORK/up.out" 2>"$WORK/up.err" &
UP_PID=$!
URL=$(up_dashboard_url "$UP_PID" "$WORK/up.out" 60) || die "$URL"
ADDRESS=${URL#http://}
ADDRESS=${ADDRESS%%/*}
[[ -s "$COPY/data/bootstrap" ]] || die "up wrote no $COPY/data/bootstrap"
echo "up: pid $UP_PID, listening on $ADDRESS"

# --- the substitutions and the run ---------------------------------------------------------------
SCRIPT=$WORK/quickstart.sh
EXPECTED=()
{
    echo "cd $(printf '%q' "$COPY")"
    for i in "${!LINES[@]}"; do
        line=${LINES[$i]}
        if [[ "$line" =~ ^B=([^[:space:]]*)(.*)$ ]]; then
            line="B=$(printf '%q' "$BIN")${BASH_REMATCH[2]}"
        fi
        line=${line//127.0.0.1:8080/$ADDRESS}
        LINES[i]=$line
        expected=0
        if [[ "$line" =~ \#.*[^[:alnum:]_]exits?\ ([0-9]+) ]]; then
            expected=${BASH_REMATCH[1]}
        fi
        EXPECTED[i]=$expected
        echo "exec >$(printf '%q' "$WORK/out.$i") 2>$(printf '%q' "$WORK/err.$i")"
        echo "$line"
        echo "echo \$? >$(printf '%q' "$WORK/status.$i")"
    done
} >"$SCRIPT"
status=0
timeout -k 5 60 bash --norc --noprofile "$SCRIPT" </dev/null || status=$?
((status == 0)) || fail "the lines, run in one bash, ended with $status (124: timed out)"

CURL_INDEX=
DRY_RUN_INDEX=
for i in "${!LINES[@]}"; do
    line=${LINES[$i]}
    got=$(cat "$WORK/status.$i" 2>/dev/null || echo "not run")
    if [[ "$got" == "${EXPECTED[$i]}" ]]; then
        echo "ok   exit $got: $line"
    else
        fail "exit $got, the README's comment promises ${EXPECTED[$i]}: $line"
        sed 's/^/    stdout: /' "$WORK/out.$i" 2>/dev/null | head -5
        sed 's/^/    stderr: /' "$WORK/err.$i" 2>/dev/null | head -5
    fi
    [[ "$line" == curl\ * ]] && CURL_INDEX=$i
    [[ "$line" == *' emit '*--dry-run* ]] && DRY_RUN_INDEX=$i
done
[[ -n "$CURL_INDEX" ]] || die "no curl line ran"

# --- what the usage answer must count ------------------------------------------------------------
# Every acme event the lines emitted: the events given by flags (emit --tenant acme …), and the
# lines of each emitted file that the dry run did not report invalid.
INVALID_LINES=
if [[ -n "$DRY_RUN_INDEX" ]]; then
    INVALID_LINES=$(sed -n 's/^line \([0-9]*\): .*/\1/p' "$WORK/err.$DRY_RUN_INDEX" | tr '\n' ' ')
fi
printf '%s\n' "${LINES[@]}" >"$WORK/lines"
python3 - "$COPY" "$WORK/lines" "$INVALID_LINES" >"$WORK/expected.json" <<'PY' ||
import json, os, shlex, sys
from decimal import Decimal
copy, lines_file, invalid = sys.argv[1], sys.argv[2], {int(n) for n in sys.argv[3].split()}
expected = {}  # meter -> [sum, count]
keys = set()
def add(meter, quantity):
    cell = expected.setdefault(meter, [Decimal(0), 0])
    cell[0] += Decimal(str(quantity))
    cell[1] += 1
for line in open(lines_file):
    words = shlex.split(line, comments=True)
    if "emit" not in words or "--dry-run" in words:
        continue
    flags = dict(zip(words, words[1:]))
    if "--file" in flags:
        path = os.path.join(copy, flags["--file"])
        if not os.path.exists(path):  # that line failed (its status said so): nothing sent
            continue
        for number, text in enumerate(open(path), start=1):
            if number in invalid or not text.strip():
                continue
            event = json.loads(text)
            if event["tenant_id"] == "acme" and event["idempotency_key"] not in keys:
                keys.add(event["idempotency_key"])  # a file sent again is counted once
                add(event["meter"], event["quantity"])
    elif flags.get("--tenant") == "acme":
        add(flags["--meter"], flags["--quantity"])
json.dump({meter: [str(cell[0]), cell[1]] for meter, cell in expected.items()}, sys.stdout)
PY
    die "could not work out what the lines emitted"
echo "expected for acme (meter: [used, count]): $(cat "$WORK/expected.json")"

# check_answer FILE: 0 when FILE is a 200 usage answer for acme counting exactly what was
# emitted; 1 (saying why in $WORK/why) when not (yet).
check_answer() {
    python3 - "$1" "$WORK/expected.json" >"$WORK/why" 2>&1 <<'PY'
import json, sys
from decimal import Decimal
text = open(sys.argv[1]).read()
body, _, code = text.rstrip("\n").rpartition("\n")
if code != "200":
    sys.exit(f"HTTP status {code!r}, not 200: {body[:300]}")
answer = json.loads(body)
expected = json.load(open(sys.argv[2]))
if answer.get("tenant_id") != "acme" or answer.get("known") is not True:
    sys.exit(f"not acme's known account: {body[:300]}")
if answer.get("plan") != "pro" or answer.get("period") != "month":
    sys.exit(f"not the pro plan's month: plan {answer.get('plan')}, period {answer.get('period')}")
meters = {m["meter"]: m for m in answer["meters"]}
for meter, (used, count) in expected.items():
    got = meters.get(meter)
    if got is None or Decimal(got["used"]) != Decimal(used) or got["count"] != count:
        sys.exit(f"{meter}: want used {used} count {count}, got {got}")
PY
}

# The curl line as run above: exit 0 (checked), and its output is acme's usage JSON.
python3 -c 'import json, sys; a = json.load(open(sys.argv[1])); assert a["tenant_id"] == "acme"' \
    "$WORK/out.$CURL_INDEX" 2>/dev/null ||
    fail "the curl line did not print acme's usage JSON: $(head -c 300 "$WORK/out.$CURL_INDEX")"
# Then the same line again, unchanged, with a shell function that has curl also write the HTTP
# status, until the answer counts everything (the ledger and the projection need a moment).
CURL_LINE=${LINES[$CURL_INDEX]}
deadline=$((SECONDS + 30))
while true; do
    (cd "$COPY" && bash --norc --noprofile -c \
        "curl() { command curl --silent --show-error --write-out '\n%{http_code}\n' \"\$@\"; }
$CURL_LINE") </dev/null >"$WORK/answer" 2>&1 || true
    if check_answer "$WORK/answer"; then
        echo "ok   200, acme's usage counts every emitted event once: $(head -c 400 "$WORK/answer")"
        break
    fi
    if ((SECONDS >= deadline)); then
        fail "the curl line's answer after 30 s: $(cat "$WORK/why")"
        break
    fi
    sleep 0.2
done

kill -0 "$UP_PID" 2>/dev/null || die "up is no longer running"
if ((failures > 0)); then
    echo "--- up stderr (last 20 lines)"
    tail -20 "$WORK/up.err"
    echo "$failures failure(s)"
    exit 1
fi
echo "README quick start: all ${#LINES[@]} lines work"
