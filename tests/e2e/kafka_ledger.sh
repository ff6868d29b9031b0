#!/usr/bin/env bash
# The ledger's exactness on a real 3-node Kafka cluster (ops/kafka), with two ledger processes
# in one consumer group (scale-out), one counters projection, a ledger killed with SIGKILL and
# restarted while events flow, and a broker killed and restarted:
#  - usage-ledger topics create: 4 partitions, replication factor 3;
#  - ledgers A and B (--data-dir ledgerA, ledgerB; group usage-ledger) split the 4 partitions
#    (each logs "assigned 2 partitions") before any event is sent; `project` runs beside them;
#  - 20,000 events from a seeded generator (UL_LEDGER_SEED, logged): 18,000 distinct
#    (tenant, idempotency_key) pairs over 12 tenants (the Kafka key, so 4 partitions get some),
#    and 2,000 byte-identical repeats of earlier events placed later in the stream, some across
#    the crash; the expected quantity sum is exact (micro-units, integers);
#  - sent in four slices: A is kill -9'd while the first slice is being consumed, the second is
#    sent while A is down, A restarts, node 2 is kill -9'd, the third is sent with two nodes,
#    node 2 restarts, the fourth is sent;
#  - then (polls with deadlines, never a sleep): every offset of usage.events consumed, every
#    entry relayed to usage.ledger, and exactly:
#      * per partition, the store furthest along has consumed every offset and holds exactly the
#        expected entries: the union over both stores is 20,000 offsets = 18,000 accepted +
#        2,000 duplicates, 0 conflicts, 0 dead letters (nothing lost, nothing accepted twice);
#      * each store's counters agree with its per-partition positions and `verify` passes on
#        both (entries = dedup keys = that store's accepted);
#      * `stats --data-dir A --data-dir B` (per partition the store furthest along, summed)
#        is exactly accepted 18,000 and duplicate 2,000, whichever partitions moved;
#      * the projection applied exactly 18,000 entries (/metrics over HTTP), stalled nowhere,
#        `export counters --window month` holds 18,000 events and the exact quantity sum, and
#        /healthz and /readyz answer 200;
#  - scale-in: B stops (SIGTERM), A takes all 4 partitions, rebuilding the ones B had from
#    usage.ledger (the changelog: B's entries and progress markers) instead of reading them
#    again from offset 0; then A's store alone holds exactly accepted 18,000 / duplicate 2,000
#    and verifies, and the projection still holds exactly the same totals.
#
# Partitions that move between the ledgers are rebuilt from usage.ledger before they are
# consumed (ledger/README.md, "Scale-out"): before that, the store taking a partition over read
# it again from offset 0 and the ledgers' summed stats double-counted (27,026 vs 18,000).
# The ledgers run with --session-timeout 6: after A's kill -9 the group waits that long (not
# librdkafka's 45 s) for A's old member before its partitions move.
#
# Usage: tests/e2e/kafka_ledger.sh USAGE_LEDGER_BINARY [REPO_ROOT]
# Environment: UL_LEDGER_SEED (generator seed, default 20261207),
# UL_LEDGER_KEEP=1 (keep the work directory on failure). Needs java, mvn, jq and curl.
set -euo pipefail
UL=$(realpath "$1")
ROOT=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
KAFKA="$ROOT/ops/kafka"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kafka_ledger.XXXXXX")
DIR="$WORK/cluster"
SEED=${UL_LEDGER_SEED:-20261207}
DISTINCT=18000
REPEATS=2000
TOTAL=$((DISTINCT + REPEATS))
LEDGER_A_PID=
LEDGER_B_PID=
PROJECT_PID=

cleanup() {
    local rc=$? log
    stop_process "$PROJECT_PID"
    stop_process "$LEDGER_A_PID"
    stop_process "$LEDGER_B_PID"
    "$KAFKA" stop --dir "$DIR" >/dev/null 2>&1 || true
    if ((rc != 0)); then
        echo "seed: $SEED (UL_LEDGER_SEED=$SEED to repeat)" >&2
        for log in "$WORK"/*.log; do
            [[ -f $log ]] || continue
            echo "--- tail of ${log#"$WORK"/}" >&2
            tail -n 15 "$log" >&2
        done
    fi
    if ((rc != 0)) && [[ ${UL_LEDGER_KEEP:-0} == 1 ]]; then
        echo "kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT

# fail, poll
source "$ROOT/tests/support/kafka_test_lib.sh"

command -v jq >/dev/null || fail "jq is needed"
command -v curl >/dev/null || fail "curl is needed"
echo "seed: $SEED"

# ---- the events: a seeded, deterministic stream with known answers
# Timestamps: four instants in the last three days (inside the 35-day limit, never ahead).
now=$(date -u +%s)
T=()
for ago in 3600 10800 93600 180000; do T+=("$(date -u -d "@$((now - ago))" +%Y-%m-%dT%H:%M:%SZ)"); done
awk -v seed="$SEED" -v distinct="$DISTINCT" -v repeats="$REPEATS" \
    -v t0="${T[0]}" -v t1="${T[1]}" -v t2="${T[2]}" -v t3="${T[3]}" \
    -v expected="$WORK/expected" '
BEGIN {
    srand(seed)
    ts[0] = t0; ts[1] = t1; ts[2] = t2; ts[3] = t3
    whole = 0; micro = 0
    for (i = 0; i < distinct; i++) {
        tenant = sprintf("tenant-%02d", int(rand() * 12))
        meter = rand() < 0.5 ? "tokens" : "api_calls"
        m = 1 + int(rand() * 5000000)  # 0.000001 .. 5.000000
        whole += int(m / 1000000); micro += m % 1000000
        line[i] = sprintf("{\"idempotency_key\":\"k-%s-%05d\",\"tenant_id\":\"%s\",\"meter\":\"%s\",\"quantity\":\"%d.%06d\",\"timestamp\":\"%s\"}",
                          seed, i, tenant, meter, int(m / 1000000), m % 1000000, ts[int(rand() * 4)])
        printf "%.6f\t%s\n", i, line[i]
        pick[i] = i
    }
    # repeats: distinct originals (a partial Fisher-Yates shuffle), each once, somewhere later
    for (r = 0; r < repeats; r++) {
        j = r + int(rand() * (distinct - r))
        o = pick[j]; pick[j] = pick[r]; pick[r] = o
        printf "%.6f\t%s\n", o + 0.5 + rand() * (distinct - o), line[o]
    }
    whole += int(micro / 1000000); micro = micro % 1000000
    printf "%.0f.%06d\n", whole, micro > expected
}' | sort -g -k1,1 | cut -f2- >"$WORK/events.jsonl"
EXPECTED_SUM=$(cat "$WORK/expected")
[[ $(wc -l <"$WORK/events.jsonl") == "$TOTAL" ]] || fail "the generator wrote $(wc -l <"$WORK/events.jsonl") lines, not $TOTAL"
[[ $(cut -d, -f1,2 "$WORK/events.jsonl" | sort -u | wc -l) == "$DISTINCT" ]] ||
    fail "the generator did not write $DISTINCT distinct (tenant, key) pairs"
[[ $(sort -u "$WORK/events.jsonl" | wc -l) == "$DISTINCT" ]] ||
    fail "a repeat differs from its original (it would be a conflict)"
# four slices: 6000, 5000, 5000, 4000 lines
sed -n '1,6000p' "$WORK/events.jsonl" >"$WORK/slice1.jsonl"
sed -n '6001,11000p' "$WORK/events.jsonl" >"$WORK/slice2.jsonl"
sed -n '11001,16000p' "$WORK/events.jsonl" >"$WORK/slice3.jsonl"
sed -n "16001,${TOTAL}p" "$WORK/events.jsonl" >"$WORK/slice4.jsonl"
echo "events: $TOTAL lines, $DISTINCT distinct, $REPEATS repeats, quantity sum $EXPECTED_SUM"

# ---- a real 3-node cluster and the topics
t_start=$SECONDS
"$KAFKA" start --nodes 3 --dir "$DIR" >"$WORK/start.out" 2>"$WORK/start.err" ||
    { cat "$WORK/start.err" >&2; fail "ops/kafka start --nodes 3 failed"; }
BS=$(cat "$DIR/bootstrap")
"$UL" topics create --bootstrap "$BS" --partitions 4 --replication-factor 3 \
    >"$WORK/topics.out" 2>"$WORK/topics.err" ||
    fail "topics create failed: $(cat "$WORK/topics.err")"
grep -q '"topic":"usage.events","partitions":4,"replication_factor":3' "$WORK/topics.out" ||
    fail "usage.events is not 4 partitions x 3 replicas: $(cat "$WORK/topics.out")"
echo "cluster up and topics created in $((SECONDS - t_start)) s"

# exited PID: the process is gone or a zombie (exited, not reaped yet)
exited() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    st=${st##*) }
    [[ ${st%% *} == [ZX] ]]
}

# ---- two ledgers in one group, one projection
start_ledger() { # start_ledger NAME LOG: starts it in the background; the pid is in $!
    "$UL" ledger --bootstrap "$BS" --data-dir "$WORK/ledger$1" --session-timeout 6 >"$2" 2>&1 &
}
# last_assigned LOG: the partition count of the last assignment the ledger logged
last_assigned() {
    local last
    last=$(grep -o 'assigned [0-9]* partitions' "$1" 2>/dev/null | tail -n 1) || return 1
    echo "${last//[!0-9]/}"
}
assigned_is() { [[ $(last_assigned "$1") == "$2" ]]; }
assigned_some() { [[ $(last_assigned "$1") =~ ^[1-9][0-9]*$ ]]; }
both_split() { assigned_is "$WORK/ledgerA.log" 2 && assigned_is "$WORK/ledgerB.log" 2; }

start_ledger A "$WORK/ledgerA.log"
LEDGER_A_PID=$!
poll 60 "ledger A assigned the 4 partitions" assigned_is "$WORK/ledgerA.log" 4
start_ledger B "$WORK/ledgerB.log"
LEDGER_B_PID=$!
poll 90 "ledgers A and B sharing the 4 partitions (2 each)" both_split
echo "ledgers A and B hold 2 partitions each"

"$UL" project --bootstrap "$BS" --data-dir "$WORK/projection" --listen 127.0.0.1:0 \
    --admin-key kafka-ledger-test-admin-key >"$WORK/project.log" 2>&1 &
PROJECT_PID=$!
poll 60 "the projection's query API address in its log" api_address
API=$(api_address)
[[ $API =~ ^127\.0\.0\.1:[1-9][0-9]*$ ]] || fail "no query API address in the projection's log: '$API'"

# ---- the stores, read with `stats` beside the running ledgers
stats_of() { "$UL" stats --data-dir "$WORK/ledger$1" >"$WORK/stats$1.json" 2>"$WORK/stats$1.err"; }
# both_stats: refreshes statsA.json and statsB.json (a store not created yet reads as empty)
both_stats() {
    local name
    for name in A B; do
        if [[ -d $WORK/ledger$name/ledger ]]; then
            stats_of "$name" || return 1
        else
            echo '{"consumed":0,"accepted":0,"duplicate":0,"conflict":0,"dead_lettered":0,"partitions":{}}' >"$WORK/stats$name.json"
        fi
    done
}
# union: over both stores, per partition the store furthest along (stores hold prefixes of the
# same per-partition sequence: a partition is consumed from offset 0 and in order by each)
UNION_JQ='
  . as $stores
  | [$stores[] | .partitions | to_entries[]] | group_by(.key)
  | map(max_by(.value.next_offset).value) as $best
  | { offsets: ($best | map(.next_offset) | add // 0),
      entries: ($best | map(.next_sequence) | add // 0),
      dead: ($best | map(.dead_letters) | add // 0),
      unrelayed: ([$stores[] | .partitions[] | select(.outbox_next != .next_sequence)] | length) }'
union_field() { jq -s -r "$UNION_JQ | .$1" "$WORK/statsA.json" "$WORK/statsB.json"; }
consumed_at_least() { both_stats && (($(union_field offsets) >= $1)); }
a_consumed_some() { stats_of A && (($(jq .consumed "$WORK/statsA.json") > 0)); }

emit_slice() { # emit_slice N: sends slice N; fails the test unless every event was delivered
    "$UL" emit --bootstrap "$BS" --file "$WORK/slice$1.jsonl" --delivery-timeout 120 \
        >"$WORK/emit$1.out" 2>"$WORK/emit$1.log" ||
        fail "emit of slice $1 failed: $(tail -n 5 "$WORK/emit$1.log") $(cat "$WORK/emit$1.out")"
    local lines
    lines=$(wc -l <"$WORK/slice$1.jsonl")
    [[ $(jq .delivered "$WORK/emit$1.out") == "$lines" && $(jq .failed "$WORK/emit$1.out") == 0 ]] ||
        fail "slice $1: not all $lines events delivered: $(cat "$WORK/emit$1.out")"
}

# ---- slice 1; kill -9 ledger A while it consumes
t_flow=$SECONDS
emit_slice 1 &
EMIT_PID=$!
poll 60 "ledger A consuming slice 1" a_consumed_some
in_flight="emit still sending"
kill -0 "$EMIT_PID" 2>/dev/null || in_flight="emit done"
kill -9 "$LEDGER_A_PID"
wait "$LEDGER_A_PID" 2>/dev/null || true
LEDGER_A_PID=
wait "$EMIT_PID" || fail "emit of slice 1 failed"
stats_of A || fail "stats on killed ledger A's store failed: $(cat "$WORK/statsA.err")"
echo "ledger A killed (-9) after consuming $(jq .consumed "$WORK/statsA.json") events ($in_flight)"

# ---- slice 2 with A down; A restarts on its store
emit_slice 2
start_ledger A "$WORK/ledgerA2.log"
LEDGER_A_PID=$!

# ---- node 2 crashes; slice 3 goes to the two survivors; node 2 comes back; slice 4
"$KAFKA" kill 2 --dir "$DIR" 2>/dev/null || fail "ops/kafka kill 2 failed"
emit_slice 3
"$KAFKA" restart 2 --dir "$DIR" >/dev/null 2>"$WORK/restart.err" ||
    { cat "$WORK/restart.err" >&2; fail "ops/kafka restart 2 failed"; }
emit_slice 4
echo "all $TOTAL events delivered in $((SECONDS - t_flow)) s (ledger A killed and restarted, node 2 killed and restarted)"

# ---- everything consumed and relayed
poll 150 "restarted ledger A taking partitions again" assigned_some "$WORK/ledgerA2.log"
poll 120 "every offset of usage.events consumed by some ledger" consumed_at_least "$TOTAL"
relayed() { both_stats && (($(union_field unrelayed) == 0)); }
poll 60 "every ledger entry relayed to usage.ledger" relayed
both_stats || fail "stats failed: $(cat "$WORK"/stats?.err)"
echo "consumed and relayed $((SECONDS - t_flow)) s after the first event"
jq -c '{consumed,accepted,duplicate,conflict,dead_lettered,partitions:(.partitions|keys)}' \
    "$WORK/statsA.json" | sed 's/^/ledger A: /'
jq -c '{consumed,accepted,duplicate,conflict,dead_lettered,partitions:(.partitions|keys)}' \
    "$WORK/statsB.json" | sed 's/^/ledger B: /'

# ---- exact: the union over both stores
offsets=$(union_field offsets)
entries=$(union_field entries)
dead=$(union_field dead)
[[ $offsets == "$TOTAL" ]] || fail "the stores consumed $offsets offsets of usage.events, expected $TOTAL"
[[ $entries == "$DISTINCT" ]] ||
    fail "the stores hold $entries distinct entries, expected $DISTINCT (lost or accepted twice)"
[[ $dead == 0 ]] || fail "$dead events were dead-lettered, expected none"
for name in A B; do
    s="$WORK/stats$name.json"
    [[ $(jq '.partitions | length' "$s") -gt 0 ]] || fail "ledger $name's store owns no partition: $(cat "$s")"
    [[ $(jq '.conflict' "$s") == 0 && $(jq '.dead_lettered' "$s") == 0 ]] ||
        fail "ledger $name counted conflicts or dead letters: $(cat "$s")"
    [[ $(jq '.gaps | length' "$s") == 0 ]] || fail "ledger $name recorded gaps: $(jq -c .gaps "$s")"
    # the store's counters agree with its positions: consumed = offsets, accepted = entries
    [[ $(jq '[.partitions[].next_offset] | add' "$s") == $(jq .consumed "$s") ]] ||
        fail "ledger $name: consumed $(jq .consumed "$s") is not the sum of its partitions' offsets"
    [[ $(jq '[.partitions[].next_sequence] | add' "$s") == $(jq .accepted "$s") ]] ||
        fail "ledger $name: accepted $(jq .accepted "$s") is not the sum of its partitions' sequences"
    "$UL" verify --data-dir "$WORK/ledger$name" >"$WORK/verify$name.out" 2>"$WORK/verify$name.err" ||
        fail "verify failed on ledger $name: $(cat "$WORK/verify$name.err")"
    [[ $(jq .ok "$WORK/verify$name.out") == true &&
        $(jq .entries "$WORK/verify$name.out") == $(jq .accepted "$s") &&
        $(jq .dedup_keys "$WORK/verify$name.out") == $(jq .accepted "$s") ]] ||
        fail "verify on ledger $name: $(cat "$WORK/verify$name.out"), accepted $(jq .accepted "$s")"
done
echo "union of both stores: $offsets offsets = $entries accepted + $((offsets - entries)) duplicates; verify passes on both"

# ---- exact: the ledgers' stats summed (scale-out), whichever partitions moved
summed_stats() {
    "$UL" stats --data-dir "$WORK/ledgerA" --data-dir "$WORK/ledgerB" >"$WORK/summed.json" \
        2>"$WORK/summed.err" || fail "stats over both stores failed: $(cat "$WORK/summed.err")"
    sum_accepted=$(jq .accepted "$WORK/summed.json")
    sum_duplicate=$(jq .duplicate "$WORK/summed.json")
    [[ $sum_accepted == "$DISTINCT" && $sum_duplicate == "$REPEATS" &&
        $(jq .conflict "$WORK/summed.json") == 0 && $(jq .dead_lettered "$WORK/summed.json") == 0 ]] ||
        fail "$1: stats summed over both stores: $(jq -c 'del(.partitions)' "$WORK/summed.json"), expected accepted $DISTINCT duplicate $REPEATS"
    echo "$1: stats summed over both stores: accepted $sum_accepted, duplicate $sum_duplicate (exact)"
}
summed_stats "after the crashes"

# ---- exact: the projection (its store, and its /metrics over HTTP)
counters() {
    "$UL" export counters --data-dir "$WORK/projection" --window month >"$WORK/counters.jsonl" \
        2>"$WORK/counters.err"
}
http_ok() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://$API$1") == 200 ]]; }
# projection_read_all MIN_REPEATS: usage.ledger read to its end, every entry applied, and at
# least MIN_REPEATS entries seen again (and skipped)
projection_read_all() {
    local lag applied repeated
    lag=$(metric projection_lag_entries) && applied=$(metric projection_entries_applied_total) &&
        repeated=$(metric projection_entries_repeated_total) || return 1
    ((lag == 0 && applied >= DISTINCT && repeated >= $1))
}
# check_projection WHAT: exactly DISTINCT entries applied, the exact count and quantity sum
check_projection() {
    local applied stalled count sum
    applied=$(metric projection_entries_applied_total) || fail "no /metrics from the projection"
    stalled=$(metric projection_stalled_partitions) || fail "no /metrics from the projection"
    [[ $applied == "$DISTINCT" ]] || fail "$1: the projection applied $applied entries, expected $DISTINCT"
    [[ $stalled == 0 ]] || fail "$1: $stalled usage.ledger partitions stalled at a gap"
    counters || fail "export counters failed: $(cat "$WORK/counters.err")"
    count=$(jq -s 'map(.count) | add // 0' "$WORK/counters.jsonl")
    sum=$(jq -r '.sum' "$WORK/counters.jsonl" | awk -F. '
        { whole += $1; micro += substr($2 "000000", 1, 6) }
        END { whole += int(micro / 1000000); printf "%.0f.%06d\n", whole, micro % 1000000 }')
    [[ $count == "$DISTINCT" ]] || fail "$1: the projection counted $count events, expected $DISTINCT"
    [[ $sum == "$EXPECTED_SUM" ]] || fail "$1: the projection's quantity sum is $sum, expected $EXPECTED_SUM"
    poll 30 "$1: the projection's /readyz answering 200" http_ok /readyz
    http_ok /healthz || fail "$1: /healthz: $(curl -s "http://$API/healthz")"
    echo "$1: projection applied $applied entries ($(metric projection_entries_repeated_total) repeats skipped), counters: $count events, quantity sum $sum (exact); /healthz, /readyz 200"
}
poll 60 "the projection reading usage.ledger to its end" projection_read_all 0
check_projection "after the crashes"

# ---- scale-in: B stops cleanly, A takes its partitions over
# A has never seen some of them (or saw them earlier): it rebuilds them from usage.ledger (B's
# entries and progress markers) and continues where B stopped. A alone must then hold the whole
# truth, and the projection must not change.
for pid in "$LEDGER_A_PID" "$LEDGER_B_PID" "$PROJECT_PID"; do
    exited "$pid" && fail "process $pid ($(cat "/proc/$pid/cmdline" 2>/dev/null | tr '\0' ' ')) exited on its own"
done
accepted_a_before=$(jq .accepted "$WORK/statsA.json")
repeated_before=$(metric projection_entries_repeated_total) || fail "no /metrics from the projection"
kill "$LEDGER_B_PID"
poll 30 "ledger B exiting on SIGTERM" exited "$LEDGER_B_PID"
rc=0
wait "$LEDGER_B_PID" || rc=$?
LEDGER_B_PID=
[[ $rc == 0 ]] || fail "ledger B exited $rc on SIGTERM, expected 0"
poll 90 "ledger A taking all 4 partitions after B stopped" assigned_is "$WORK/ledgerA2.log" 4
a_has_all() {
    stats_of A && [[ $(jq .consumed "$WORK/statsA.json") == "$TOTAL" ]] &&
        [[ $(jq '[.partitions[] | select(.outbox_next != .next_sequence)] | length' "$WORK/statsA.json") == 0 ]]
}
poll 90 "ledger A alone consuming and relaying all $TOTAL offsets" a_has_all
s="$WORK/statsA.json"
[[ $(jq .accepted "$s") == "$DISTINCT" && $(jq .duplicate "$s") == "$REPEATS" &&
    $(jq .conflict "$s") == 0 && $(jq .dead_lettered "$s") == 0 && $(jq '.partitions | length' "$s") == 4 ]] ||
    fail "after scale-in, ledger A alone: $(jq -c 'del(.partitions)' "$s"), expected accepted $DISTINCT duplicate $REPEATS over 4 partitions"
"$UL" verify --data-dir "$WORK/ledgerA" >"$WORK/verifyA.out" 2>"$WORK/verifyA.err" ||
    fail "verify failed on ledger A after scale-in: $(cat "$WORK/verifyA.err")"
[[ $(jq .entries "$WORK/verifyA.out") == "$DISTINCT" ]] || fail "verify on ledger A: $(cat "$WORK/verifyA.out")"
adopted=$(($(jq .accepted "$s") - accepted_a_before))
echo "scale-in: ledger A alone holds accepted $DISTINCT, duplicate $REPEATS (exact; $adopted entries of B's partitions adopted from usage.ledger)"
grep -q 'adopted [0-9]* entries' "$WORK/ledgerA2.log" ||
    fail "ledger A took B's partitions over without rebuilding them from usage.ledger: $(grep -c . "$WORK/ledgerA2.log") log lines"
summed_stats "after scale-in"
poll 60 "the projection reading usage.ledger to its end after scale-in" \
    projection_read_all "$repeated_before"
check_projection "after scale-in"

echo "ok: 3-node Kafka, 2 ledgers + 1 projection, ledger A and node 2 killed and restarted, then B stopped: nothing lost, nothing counted twice in any store or in the projection (seed $SEED, $((SECONDS - t_start)) s)"
echo "1 passed, 0 failed"
