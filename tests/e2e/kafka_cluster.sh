#!/usr/bin/env bash
# ops/kafka end to end: a real 3-node Kafka (KRaft) cluster on loopback from Maven Central jars.
# Starts it, checks the bootstrap file, creates a topic with replication factor 3 using Kafka's
# own TopicCommand, kills node 2 (the cluster must still answer metadata), restarts node 2
# (it must rejoin), stops the cluster and checks no node's JVM is left.
# Usage: tests/e2e/kafka_cluster.sh [USAGE_LEDGER_BINARY_IGNORED] [REPO_ROOT]
# (the arguments are those every tests/e2e script gets from ctest; both are optional).
# Needs java and mvn (ops/kafka installs them with apt-get if missing) and, on the first run,
# Maven Central; later runs use the jar cache.
set -euo pipefail
ROOT=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
KAFKA="$ROOT/ops/kafka"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kafka_cluster.XXXXXX")
DIR="$WORK/cluster"

cleanup() {
    local rc=$?
    "$KAFKA" stop --dir "$DIR" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

# fail, poll
source "$ROOT/tests/support/kafka_test_lib.sh"

# ---- start
t0=$(date +%s.%N)
"$KAFKA" start --nodes 3 --dir "$DIR" >"$WORK/start.out" 2>"$WORK/start.err" ||
    { cat "$WORK/start.err" >&2; fail "ops/kafka start --nodes 3 failed"; }
t1=$(date +%s.%N)
start_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')

# ---- bootstrap file
[[ -s $DIR/bootstrap ]] || fail "start wrote no $DIR/bootstrap"
BS=$(cat "$DIR/bootstrap")
[[ $BS =~ ^127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+$ ]] ||
    fail "bootstrap file is not three loopback addresses: '$BS'"
[[ $(tail -n 1 "$WORK/start.out") == "$BS" ]] ||
    fail "the last line start printed ('$(tail -n 1 "$WORK/start.out")') is not the bootstrap list '$BS'"
for n in 1 2 3; do
    [[ -s $DIR/node-$n/pid ]] || fail "no pid recorded for node $n"
    [[ -s $DIR/node-$n/server.properties ]] || fail "no server.properties for node $n"
done
# (status captured first: grep -q closing a pipe early would fail the pipeline under pipefail)
status=$("$KAFKA" status --dir "$DIR") || fail "ops/kafka status failed"
[[ $(grep -c ' alive ' <<<"$status") == 3 ]] || fail "status does not show 3 live nodes: $status"

# ---- Kafka's own admin tooling, from the jars ops/kafka resolved
# shellcheck disable=SC1091
KAFKA_VERSION=$(source "$DIR/cluster.env" && echo "$KAFKA_VERSION")
CACHE=${UL_KAFKA_CACHE:-$HOME/.cache/usage-ledger/kafka-$KAFKA_VERSION}
[[ -f $CACHE/.complete ]] || fail "no complete jar cache at $CACHE"
JAVA=(java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
      -Dlog4j2.configurationFile="$CACHE/tools-log4j2.properties" -cp "$CACHE/*")
TOPIC_CMD=
for cls in org.apache.kafka.tools.TopicCommand kafka.admin.TopicCommand; do
    if "${JAVA[@]}" "$cls" --version >/dev/null 2>&1; then TOPIC_CMD=$cls; break; fi
done
[[ -n $TOPIC_CMD ]] || fail "no TopicCommand class in $CACHE"

"${JAVA[@]}" "$TOPIC_CMD" --bootstrap-server "$BS" --create --topic e2e.replicated \
    --partitions 3 --replication-factor 3 >"$WORK/create.out" 2>&1 ||
    fail "creating a topic with replication factor 3 failed: $(cat "$WORK/create.out")"
desc=$("${JAVA[@]}" "$TOPIC_CMD" --bootstrap-server "$BS" --describe --topic e2e.replicated 2>&1) ||
    fail "describe failed: $desc"
grep -q 'ReplicationFactor: 3' <<<"$desc" || fail "topic is not replicated 3 times: $desc"
[[ $(grep -c 'Replicas: [0-9],[0-9],[0-9]' <<<"$desc") == 3 ]] ||
    fail "not every partition has 3 replicas: $desc"

# ---- crash node 2: the other two still answer metadata
"$KAFKA" kill 2 --dir "$DIR" 2>/dev/null || fail "ops/kafka kill 2 failed"
status=$("$KAFKA" status --dir "$DIR") || fail "ops/kafka status failed"
grep -q '^node 2 .* dead ' <<<"$status" || fail "status does not show node 2 dead: $status"
SURVIVORS=$(cut -d, -f1,3 <<<"$BS")
lists_topic() {
    local out
    out=$("${JAVA[@]}" "$TOPIC_CMD" --bootstrap-server "$SURVIVORS" --list 2>/dev/null) &&
        grep -qx 'e2e.replicated' <<<"$out"
}
poll 60 "nodes 1 and 3 answering metadata with node 2 dead" lists_topic

# ---- node 2 back, same ports
"$KAFKA" restart 2 --dir "$DIR" 2>"$WORK/restart.err" ||
    { cat "$WORK/restart.err" >&2; fail "ops/kafka restart 2 failed"; }
status=$("$KAFKA" status --dir "$DIR") || fail "ops/kafka status failed"
grep -q '^node 2 .* alive ' <<<"$status" || fail "status does not show node 2 alive: $status"
NODE2=$(cut -d, -f2 <<<"$BS")
node2_lists_topic() {
    local out
    out=$("${JAVA[@]}" "$TOPIC_CMD" --bootstrap-server "$NODE2" --list 2>/dev/null) &&
        grep -qx 'e2e.replicated' <<<"$out"
}
poll 60 "restarted node 2 answering metadata on its old port" node2_lists_topic

# ---- stop: nothing of the cluster left
pids=$(cat "$DIR"/node-*/pid)
"$KAFKA" stop --dir "$DIR" 2>/dev/null || fail "ops/kafka stop failed"
for pid in $pids; do
    # a pid that is gone, or a zombie not yet reaped by init, has stopped
    if [[ -r /proc/$pid/stat ]]; then
        st=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        st=${st##*) }
        [[ ${st%% *} == [ZX] ]] || fail "pid $pid still alive after stop"
    fi
done
if pgrep -f -- "kafka\.Kafka $DIR/" >/dev/null; then
    fail "a java process of the cluster is left: $(pgrep -af -- "kafka\.Kafka $DIR/")"
fi
"$KAFKA" stop --dir "$DIR" 2>/dev/null || fail "a second stop is not idempotent"

echo "ok: 3-node Kafka $KAFKA_VERSION started in $start_secs s; topic rf=3, node 2 killed and restarted, stopped clean"
echo "1 passed, 0 failed"
