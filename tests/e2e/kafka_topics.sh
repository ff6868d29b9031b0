#!/usr/bin/env bash
# `usage-ledger topics create` end to end, on a real 1-node Kafka (ops/kafka) and on the
# embedded broker:
#  - the five topics are created (--partitions 4), usage.accounts compacted (per Kafka's own
#    TopicCommand); a second run answers "exists" for each, exit 0;
#  - --partitions 8 against them: exit 1 naming usage.events, nothing created;
#  - usage.ledger grown to 8 partitions (TopicCommand --alter): the ledger refuses to start
#    naming both topics, and topics create names usage.ledger;
#  - on `usage-ledger broker` (which makes the topics itself and cannot describe configurations)
#    topics create answers "exists" for each and says cleanup.policy is unchecked, exit 0.
# Usage: tests/e2e/kafka_topics.sh USAGE_LEDGER_BINARY [REPO_ROOT]
set -euo pipefail
UL=$(realpath "$1")
ROOT=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
KAFKA="$ROOT/ops/kafka"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kafka_topics.XXXXXX")
DIR="$WORK/kafka"
BROKER_PID=

cleanup() {
    local rc=$?
    if [[ -n $BROKER_PID ]]; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    "$KAFKA" stop --dir "$DIR" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

# fail, poll
source "$ROOT/tests/support/kafka_test_lib.sh"

# expect_lines FILE STATUS PARTITIONS: the five topics, one JSON line each, with that status
expect_lines() {
    local file=$1 status=$2 partitions=$3 topic
    [[ $(wc -l <"$file") == 5 ]] || fail "expected 5 lines, got: $(cat "$file")"
    for topic in usage.events usage.events.dlq usage.ledger usage.alerts usage.accounts; do
        grep -qx "{\"topic\":\"$topic\",\"partitions\":$partitions,\"replication_factor\":1,\"status\":\"$status\"[^}]*}" "$file" ||
            fail "no '$status' line with $partitions partitions for $topic in: $(cat "$file")"
    done
}

# ---- a real 1-node Kafka
"$KAFKA" start --nodes 1 --dir "$DIR" >"$WORK/start.out" 2>"$WORK/start.err" ||
    { cat "$WORK/start.err" >&2; fail "ops/kafka start --nodes 1 failed"; }
BS=$(cat "$DIR/bootstrap")
TOPIC_CMD=("$KAFKA" tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BS")

# ---- create
"$UL" topics create --bootstrap-file "$DIR/bootstrap" --partitions 4 >"$WORK/create.out" \
    2>"$WORK/create.err" || fail "topics create failed: $(cat "$WORK/create.err")"
expect_lines "$WORK/create.out" created 4
desc=$("${TOPIC_CMD[@]}" --describe --topic usage.accounts 2>&1) || fail "describe failed: $desc"
grep -q 'cleanup.policy=compact' <<<"$desc" || fail "usage.accounts is not compacted: $desc"
desc=$("${TOPIC_CMD[@]}" --describe --topic usage.events 2>&1) || fail "describe failed: $desc"
grep -q 'PartitionCount: 4' <<<"$desc" || fail "usage.events does not have 4 partitions: $desc"
if grep -q 'cleanup.policy=compact' <<<"$desc"; then fail "usage.events is compacted: $desc"; fi

# ---- again: every topic exists, nothing to do
"$UL" topics create --bootstrap-file "$DIR/bootstrap" --partitions 4 >"$WORK/again.out" \
    2>"$WORK/again.err" || fail "a second topics create failed: $(cat "$WORK/again.err")"
expect_lines "$WORK/again.out" exists 4

# ---- another partition count: exit 1 naming usage.events, nothing printed
rc=0
"$UL" topics create --bootstrap "$BS" --partitions 8 >"$WORK/eight.out" 2>"$WORK/eight.err" ||
    rc=$?
[[ $rc == 1 ]] || fail "topics create --partitions 8 exited $rc, expected 1: $(cat "$WORK/eight.err")"
grep -q 'usage.events has 4 partitions, expected 8' "$WORK/eight.err" ||
    fail "the error does not name usage.events and its count: $(cat "$WORK/eight.err")"
[[ $(grep -c . "$WORK/eight.err") == 1 ]] || fail "the error is not one line: $(cat "$WORK/eight.err")"
[[ ! -s $WORK/eight.out ]] || fail "a failed run printed: $(cat "$WORK/eight.out")"

# ---- usage.ledger grown to 8: the ledger refuses to start, topics create names it
"${TOPIC_CMD[@]}" --alter --topic usage.ledger --partitions 8 >"$WORK/alter.out" 2>&1 ||
    fail "cannot grow usage.ledger: $(cat "$WORK/alter.out")"
ledger_sees_eight() {
    "${TOPIC_CMD[@]}" --describe --topic usage.ledger 2>/dev/null | grep -q 'PartitionCount: 8'
}
poll 60 "usage.ledger reported with 8 partitions" ledger_sees_eight
rc=0
timeout 60 "$UL" ledger --bootstrap-file "$DIR/bootstrap" --data-dir "$WORK/ledger" --assign-all \
    >"$WORK/ledger.out" 2>"$WORK/ledger.err" || rc=$?
[[ $rc == 1 ]] || fail "the ledger exited $rc on mismatched topics, expected 1: $(cat "$WORK/ledger.err")"
grep -q 'usage.events has 4 partitions but usage.ledger has 8' "$WORK/ledger.err" ||
    fail "the ledger's error does not name both counts: $(cat "$WORK/ledger.err")"
rc=0
"$UL" topics create --bootstrap-file "$DIR/bootstrap" --partitions 4 >"$WORK/grown.out" \
    2>"$WORK/grown.err" || rc=$?
[[ $rc == 1 ]] || fail "topics create on a grown usage.ledger exited $rc, expected 1"
grep -q 'usage.ledger has 8 partitions, expected 4' "$WORK/grown.err" ||
    fail "the error does not name usage.ledger: $(cat "$WORK/grown.err")"
"$KAFKA" stop --dir "$DIR" >/dev/null 2>&1 || fail "ops/kafka stop failed"

# ---- the embedded broker: its topics exist already; it cannot describe configurations
"$UL" broker --bootstrap-file "$WORK/embedded/bootstrap" --partitions 4 \
    >"$WORK/broker.out" 2>"$WORK/broker.err" &
BROKER_PID=$!
poll 30 "the embedded broker's bootstrap file" test -s "$WORK/embedded/bootstrap"
rc=0
"$UL" topics create --bootstrap-file "$WORK/embedded/bootstrap" --partitions 4 \
    >"$WORK/embedded.out" 2>"$WORK/embedded.err" || rc=$?
[[ $rc == 0 ]] || fail "topics create on the embedded broker exited $rc: $(cat "$WORK/embedded.err")"
expect_lines "$WORK/embedded.out" exists 4
grep -q '"topic":"usage.accounts".*"unchecked":"cleanup.policy"' "$WORK/embedded.out" ||
    fail "usage.accounts's cleanup.policy is not reported unchecked: $(cat "$WORK/embedded.out")"
grep -q 'cleanup.policy of usage.accounts not checked' "$WORK/embedded.err" ||
    fail "no warning that cleanup.policy was not checked: $(cat "$WORK/embedded.err")"
kill "$BROKER_PID"
wait "$BROKER_PID" || fail "the embedded broker did not stop cleanly"
BROKER_PID=

echo "ok: topics create made 5 topics on real Kafka, found them again, refused another count; the ledger refused mismatched topics; the embedded broker's topics exist"
echo "1 passed, 0 failed"
