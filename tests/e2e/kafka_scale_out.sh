#!/usr/bin/env bash
# Scale-out under chaos (issue 13, acceptance points 2 and 3): three ledger processes in one
# consumer group on a real 3-node Kafka cluster, stopped, started and killed at random while a
# generated stream with duplicates, conflicts and invalid lines flows in, and the leader broker
# of a usage.events partition killed and restarted twice; at the end the summed ledger stats,
# every store's verify and the counters projection are exact.
#  - ops/kafka start --nodes 3; usage-ledger topics create --partitions 6 --replication-factor 3;
#  - ledgers A, B and C (group usage-ledger, --data-dir ledgerA|B|C, --session-timeout 6,
#    --batch-size UL_SCALE_OUT_BATCH, default 200: many batch boundaries to die between) split
#    the 6 partitions (2 each) before any event is sent; one `project` (counters) runs beside;
#  - tests/tools/gen_events.py writes UL_SCALE_OUT_LINES lines (seeded) with invalid lines,
#    byte-identical duplicates of earlier events and conflicts (same tenant and key, another
#    payload), and --expect / --counters give the exact answers. Duplicates pick any earlier
#    event, so many of them arrive in later slices than their originals: after the instance that
#    accepted the original was stopped or killed and its partitions moved to another one;
#  - the file goes in with `usage-ledger emit --allow-invalid` in UL_SCALE_OUT_SLICES slices, one
#    after the other (a tenant's events keep their order: which event of a key comes first
#    decides accepted vs conflict). During every slice but the last, as soon as the ledgers
#    consumed some of it, a ledger event of a plan drawn from the seed hits them: SIGTERM a
#    running ledger, kill -9 a running ledger, or start a stopped one again (never fewer than one
#    running; every plan has at least 3 kills, 2 stops and 3 starts). The last slice follows the
#    last event, so every kill is followed by at least one whole slice;
#  - during two slices (drawn from the seed) the LEADER broker of a usage.events partition in use
#    (Kafka's own TopicCommand --describe, run through ops/kafka tool) is kill -9'd while emit
#    sends, and restarted in the background (ops/kafka restart) while the next slices flow;
#    before the second broker kill every partition is fully replicated again. No usage-ledger
#    process is restarted because of a broker;
#  - no ledger and not the projection may exit on its own; a SIGTERM'd ledger must exit 0;
#  - at the end every stopped ledger starts again; then (polls with deadlines, never a sleep):
#    every produced offset consumed (summed stats) and every partition's entries relayed by the
#    store furthest along it; then exactly:
#      * emit: the slices' valid and invalid counts (per reason) are the generator's;
#      * `stats --data-dir A --data-dir B --data-dir C` ("stores": 3): consumed, accepted,
#        duplicate and conflict are the generator's expected ledger counts, dead_lettered 0
#        (emit never sends an invalid line), per partition from the store furthest along;
#      * every store: `verify` passes, entries = dedup keys = its accepted, its counters agree
#        with its partitions' positions, no gap;
#      * the projection: projection_entries_applied_total = accepted, lag 0, no stalled
#        partition, `export counters --window month` holds accepted events and the exact
#        quantity sum, and equals the generator's month cells one for one.
#
# Usage: tests/e2e/kafka_scale_out.sh USAGE_LEDGER_BINARY [REPO_ROOT]
# Environment: UL_SCALE_OUT_SEED (the seed of the generator and of the plan; random by default,
# always printed), UL_SCALE_OUT_LINES (default 18000), UL_SCALE_OUT_SLICES (default 12, at
# least 11), UL_SCALE_OUT_BATCH (default 200), UL_SCALE_OUT_KEEP=1 (keep the work directory
# on failure). Needs java, mvn, jq, curl and python3.
set -euo pipefail
UL=$(realpath "$1")
ROOT=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
KAFKA="$ROOT/ops/kafka"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kafka_scale_out.XXXXXX")
DIR="$WORK/cluster"
SEED=${UL_SCALE_OUT_SEED:-$(((RANDOM << 15 | RANDOM) % 1000000000))}
LINES=${UL_SCALE_OUT_LINES:-18000}
SLICES=${UL_SCALE_OUT_SLICES:-12}
# Small poll batches: more batch boundaries (each one synced write, then relayed and marked) for
# the kills to land between, and a slice takes the ledgers long enough that events hit mid-way.
BATCH=${UL_SCALE_OUT_BATCH:-200}
PARTITIONS=6
NAMES=(A B C)
declare -A PID=([A]= [B]= [C]=)   # the running ledger's pid, empty when stopped
declare -A LIFE=([A]=0 [B]=0 [C]=0) # incarnations: ledgerX.N.log is the log of the N-th
PROJECT_PID=
EMIT_PID=
RESTART_PID=
RESTART_NODE=

cleanup() {
    local rc=$? log name
    [[ -n $EMIT_PID ]] && stop_process "$EMIT_PID"
    [[ -n $RESTART_PID ]] && { wait "$RESTART_PID" 2>/dev/null || true; }
    stop_process "$PROJECT_PID"
    for name in "${NAMES[@]}"; do stop_process "${PID[$name]}"; done
    "$KAFKA" stop --dir "$DIR" >/dev/null 2>&1 || true
    if ((rc != 0)); then
        echo "seed: $SEED (UL_SCALE_OUT_SEED=$SEED to repeat)" >&2
        for log in "$WORK"/*.log; do
            [[ -f $log ]] || continue
            echo "--- ${log#"$WORK"/}: errors and warnings, then the last lines" >&2
            grep -E '\] \[(error|warning|critical)\]|ERROR|AddressSanitizer' "$log" | tail -n 10 >&2 || true
            tail -n 5 "$log" >&2
        done
    fi
    if ((rc != 0)) && [[ ${UL_SCALE_OUT_KEEP:-0} == 1 ]]; then
        echo "kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT

# fail, poll
source "$ROOT/tests/support/kafka_test_lib.sh"

for tool in jq curl python3; do command -v "$tool" >/dev/null || fail "$tool is needed"; done
((SLICES >= 11)) || fail "UL_SCALE_OUT_SLICES must be at least 11 (a ledger event during every slice but the last)"
echo "seed: $SEED (UL_SCALE_OUT_SEED=$SEED to repeat)"
RANDOM=$SEED # the plan below is drawn in this shell only ($RANDOM in a subshell is reseeded)
t_start=$SECONDS

# ---- the events and their exact answers
python3 "$ROOT/tests/tools/gen_events.py" --lines "$LINES" --seed "$SEED" --tenants 30 \
    --invalid-percent 3 --duplicate-percent 10 --conflict-percent 3 \
    --out "$WORK/events.jsonl" --expect "$WORK/expect.json" --counters "$WORK/counters.expected" \
    2>"$WORK/gen.err" || fail "gen_events.py failed: $(cat "$WORK/gen.err")"
EXP_VALID=$(jq .valid "$WORK/expect.json")
EXP_INVALID=$(jq .invalid "$WORK/expect.json")
EXP_ACCEPTED=$(jq .ledger.accepted "$WORK/expect.json")
EXP_DUPLICATE=$(jq .ledger.duplicate "$WORK/expect.json")
EXP_CONFLICT=$(jq .ledger.conflict "$WORK/expect.json")
# month cells without the window field: what `export counters --window month` prints
sed -n 's/^{"window":"month",/{/p' "$WORK/counters.expected" | sort >"$WORK/month.expected"
# sum_cells FILE: the exact sum of the cells' "sum" decimals and of their counts ("SUM COUNT")
sum_cells() {
    python3 -c '
import decimal, json, sys
total, count = decimal.Decimal(0), 0
for line in open(sys.argv[1]):
    cell = json.loads(line)
    total += decimal.Decimal(cell["sum"]); count += cell["count"]
print(format(total, "f"), count)' "$1"
}
read -r EXP_SUM EXP_COUNT < <(sum_cells "$WORK/month.expected")
[[ $EXP_COUNT == "$EXP_ACCEPTED" ]] || fail "the generator's month cells count $EXP_COUNT events, its expect says $EXP_ACCEPTED accepted"
((EXP_DUPLICATE > 0 && EXP_CONFLICT > 0 && EXP_INVALID > 0)) || fail "the generator made no duplicate, conflict or invalid line: $(cat "$WORK/expect.json")"
# the slices: consecutive, about LINES / SLICES lines each
awk -v n="$SLICES" -v lines="$LINES" -v work="$WORK" '
    { slice = int((NR - 1) * n / lines) + 1; print > (work "/slice" slice ".jsonl") }' "$WORK/events.jsonl"
echo "events: $LINES lines ($EXP_VALID valid, $EXP_INVALID invalid) in $SLICES slices; expected: accepted $EXP_ACCEPTED, duplicate $EXP_DUPLICATE, conflict $EXP_CONFLICT, quantity sum $EXP_SUM"

# ---- the plan: one ledger event per step, and two steps that also kill a leader broker
# PLAN[i] = "term X" | "kill X" | "start X"; a kill or stop never leaves no ledger running.
draw_plan() {
    local i name kills=0 terms=0 starts=0 candidates
    declare -A up=([A]=1 [B]=1 [C]=1)
    PLAN=()
    for ((i = 1; i < SLICES; i++)); do
        candidates=()
        local running=0
        for name in "${NAMES[@]}"; do ((up[$name])) && running=$((running + 1)); done
        for name in "${NAMES[@]}"; do
            if ((up[$name])); then
                ((running >= 2)) && candidates+=("term $name" "kill $name")
            else
                candidates+=("start $name")
            fi
        done
        PLAN[i]=${candidates[RANDOM % ${#candidates[@]}]}
        name=${PLAN[i]##* }
        case ${PLAN[i]} in
            term*) up[$name]=0; terms=$((terms + 1)) ;;
            kill*) up[$name]=0; kills=$((kills + 1)) ;;
            start*) up[$name]=1; starts=$((starts + 1)) ;;
        esac
    done
    ((kills >= 3 && terms >= 2 && starts >= 3))
}
until draw_plan; do :; done
BROKER_STEP1=$((2 + RANDOM % (SLICES / 2 - 2)))              # in 2 .. SLICES/2 - 1
BROKER_STEP2=$((SLICES / 2 + 1 + RANDOM % (SLICES / 2 - 2))) # in SLICES/2 + 1 .. SLICES - 2
echo "plan: $(for ((i = 1; i < SLICES; i++)); do printf '%s%s; ' "$i:${PLAN[i]}" \
    "$( ((i == BROKER_STEP1 || i == BROKER_STEP2)) && echo ' +leader broker kill')"; done)"

# ---- a real 3-node cluster and the topics
"$KAFKA" start --nodes 3 --dir "$DIR" >"$WORK/start.out" 2>"$WORK/start.err" ||
    { cat "$WORK/start.err" >&2; fail "ops/kafka start --nodes 3 failed"; }
BS=$(cat "$DIR/bootstrap")
"$UL" topics create --bootstrap "$BS" --partitions "$PARTITIONS" --replication-factor 3 \
    >"$WORK/topics.out" 2>"$WORK/topics.err" ||
    fail "topics create failed: $(cat "$WORK/topics.err")"
grep -q "\"topic\":\"usage.events\",\"partitions\":$PARTITIONS,\"replication_factor\":3" "$WORK/topics.out" ||
    fail "usage.events is not $PARTITIONS partitions x 3 replicas: $(cat "$WORK/topics.out")"
t_cluster=$((SECONDS - t_start))
echo "cluster up and topics created in $t_cluster s"

# exited PID: the process is gone or a zombie (exited, not reaped yet)
exited() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    st=${st##*) }
    [[ ${st%% *} == [ZX] ]]
}
log_of() { echo "$WORK/ledger$1.${LIFE[$1]}.log"; }
start_ledger() { # start_ledger NAME: a new incarnation on the ledger's own store
    LIFE[$1]=$((LIFE[$1] + 1))
    "$UL" ledger --bootstrap "$BS" --data-dir "$WORK/ledger$1" --session-timeout 6 \
        --batch-size "$BATCH" >"$(log_of "$1")" 2>&1 &
    PID[$1]=$!
}
term_ledger() { # term_ledger NAME: SIGTERM; it must exit 0 by itself
    local pid=${PID[$1]} rc=0
    kill "$pid"
    poll 60 "ledger $1 exiting on SIGTERM" exited "$pid"
    wait "$pid" || rc=$?
    PID[$1]=
    ((rc == 0)) || fail "ledger $1 exited $rc on SIGTERM, expected 0 (log: $(basename "$(log_of "$1")"))"
}
kill_ledger() {
    kill -9 "${PID[$1]}"
    wait "${PID[$1]}" 2>/dev/null || true
    PID[$1]=
}
# all_alive: no ledger that should run and not the projection exited on its own
all_alive() {
    local name
    for name in "${NAMES[@]}"; do
        if [[ -n ${PID[$name]} ]] && exited "${PID[$name]}"; then
            local rc=0
            wait "${PID[$name]}" || rc=$?
            PID[$name]=
            fail "ledger $name exited on its own (status $rc; log $(basename "$(log_of "$name")")): $(tail -n 5 "$(log_of "$name")")"
        fi
    done
    if exited "$PROJECT_PID"; then
        fail "the projection exited on its own: $(tail -n 5 "$WORK/project.log")"
    fi
}
# last_assigned NAME: the partition count of the last assignment the running ledger logged
last_assigned() {
    local last
    last=$(grep -o 'assigned [0-9]* partitions' "$(log_of "$1")" 2>/dev/null | tail -n 1) || return 1
    echo "${last//[!0-9]/}"
}
all_split() { # every ledger runs and holds 2 of the 6 partitions
    local name
    for name in "${NAMES[@]}"; do [[ $(last_assigned "$name") == 2 ]] || return 1; done
}

# ---- three ledgers in one group, one projection
for name in "${NAMES[@]}"; do start_ledger "$name"; done
poll 120 "ledgers A, B and C sharing the $PARTITIONS partitions (2 each)" all_split
"$UL" project --bootstrap "$BS" --data-dir "$WORK/projection" --listen 127.0.0.1:0 \
    --admin-key kafka-scale-out-test-admin-key >"$WORK/project.log" 2>&1 &
PROJECT_PID=$!
poll 60 "the projection's query API address in its log" api_address
API=$(api_address)
[[ $API =~ ^127\.0\.0\.1:[1-9][0-9]*$ ]] || fail "no query API address in the projection's log: '$API'"
echo "ledgers A, B and C hold 2 partitions each; projection on $API"

# ---- reading the stores beside the running ledgers
summed() { # refreshes summed.json: stats over the three stores
    "$UL" stats --data-dir "$WORK/ledgerA" --data-dir "$WORK/ledgerB" --data-dir "$WORK/ledgerC" \
        >"$WORK/summed.json" 2>"$WORK/summed.err"
}
consumed_at_least() { summed && (($(jq .consumed "$WORK/summed.json") >= $1)); }
# every partition's entries relayed by the store furthest along it (the summed stats' data_dir)
relayed() {
    local name p dir
    summed || return 1
    for name in "${NAMES[@]}"; do
        "$UL" stats --data-dir "$WORK/ledger$name" >"$WORK/stats$name.json" 2>"$WORK/stats$name.err" || return 1
    done
    [[ $(jq '.partitions | length' "$WORK/summed.json") == "$PARTITIONS" ]] || return 1
    for p in $(jq -r '.partitions | keys[]' "$WORK/summed.json"); do
        dir=$(jq -r ".partitions[\"$p\"].data_dir" "$WORK/summed.json")
        jq -e ".partitions[\"$p\"] | .outbox_next == .next_sequence and .dlq_outbox_next == .dead_letters" \
            "$WORK/stats${dir##*ledger}.json" >/dev/null || return 1
    done
}

# ---- the leader brokers
topic_command() { "$KAFKA" tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BS" "$@"; }
# leader_of PARTITION: the node id (= ops/kafka node number) leading usage.events PARTITION
leader_of() {
    topic_command --describe --topic usage.events 2>"$WORK/describe.err" |
        awk -v p="$1" '{ for (i = 1; i < NF; i++) { if ($i == "Partition:") part = $(i + 1); if ($i == "Leader:" && part == p) print $(i + 1) } }'
}
fully_replicated() { # no under-replicated partition of any topic
    local out
    out=$(topic_command --describe --under-replicated-partitions 2>/dev/null) || return 1
    [[ -z $out ]]
}
wait_broker_restart() {
    [[ -n $RESTART_PID ]] || return 0
    local rc=0
    wait "$RESTART_PID" || rc=$?
    RESTART_PID=
    ((rc == 0)) || fail "ops/kafka restart $RESTART_NODE failed: $(tail -n 5 "$WORK/restart$RESTART_NODE.err")"
}

emitted_valid=0
emitted_invalid=0
echo '{}' >"$WORK/invalid_by_reason.json"
emit_slice() { # emit_slice N: sends slice N; every valid event must be delivered
    "$UL" emit --bootstrap "$BS" --file "$WORK/slice$1.jsonl" --allow-invalid --delivery-timeout 120 \
        >"$WORK/emit$1.out" 2>"$WORK/emit$1.log"
}
check_emit() { # check_emit N RC: the emit of slice N exited RC
    [[ $2 == 0 ]] || fail "emit of slice $1 exited $2: $(grep -v '^line [0-9]*:' "$WORK/emit$1.log" | tail -n 5) $(cat "$WORK/emit$1.out")"
    local out="$WORK/emit$1.out"
    [[ $(jq .delivered "$out") == $(jq .valid "$out") && $(jq .failed "$out") == 0 &&
        $(jq .lines "$out") == $(wc -l <"$WORK/slice$1.jsonl") ]] ||
        fail "slice $1: not every valid event delivered: $(cat "$out")"
    emitted_valid=$((emitted_valid + $(jq .valid "$out")))
    emitted_invalid=$((emitted_invalid + $(jq .invalid "$out")))
    jq -s '.[0] as $sum | .[1].invalid_by_reason | reduce to_entries[] as $e ($sum; .[$e.key] += $e.value)' \
        "$WORK/invalid_by_reason.json" "$out" >"$WORK/invalid_by_reason.next"
    mv "$WORK/invalid_by_reason.next" "$WORK/invalid_by_reason.json"
}

# ---- the steps
# Step i < SLICES: slice i is produced in the background; at a broker step the leader is killed
# at once (while emit sends); as soon as the ledgers consumed some of the slice the step's ledger
# event hits them; then the emit must have delivered everything. Slice SLICES comes last, after
# the last event: every kill is followed by at least one whole slice.
t_flow=$SECONDS
declare -A done_events=([term]=0 [kill]=0 [start]=0)
broker_kills=()
mid_stream=0 # ledger events that hit while events sent were still to be consumed
for ((i = 1; i <= SLICES; i++)); do
    all_alive
    summed || fail "stats over the three stores failed: $(cat "$WORK/summed.err")"
    before=$(jq .consumed "$WORK/summed.json")
    note="step $i:"
    if ((i == BROKER_STEP1 || i == BROKER_STEP2)); then
        wait_broker_restart
        poll 120 "every partition fully replicated again before killing a leader broker" fully_replicated
        partition=$((RANDOM % PARTITIONS))
        leader=$(leader_of "$partition")
        [[ $leader =~ ^[123]$ ]] || fail "no leader found for usage.events partition $partition: '$leader' $(cat "$WORK/describe.err")"
    fi
    emit_slice "$i" &
    EMIT_PID=$!
    if ((i == BROKER_STEP1 || i == BROKER_STEP2)); then
        "$KAFKA" kill "$leader" --dir "$DIR" 2>"$WORK/kill$leader.err" || fail "ops/kafka kill $leader failed: $(cat "$WORK/kill$leader.err")"
        in_flight="emit still sending"
        exited "$EMIT_PID" && in_flight="emit done"
        RESTART_NODE=$leader
        "$KAFKA" restart "$leader" --dir "$DIR" >/dev/null 2>"$WORK/restart$leader.err" &
        RESTART_PID=$!
        broker_kills+=("step $i: node $leader (leader of partition $partition; $in_flight)")
        note+=" killed node $leader, the leader of usage.events partition $partition ($in_flight), restarting it in the background;"
    fi
    if ((i < SLICES)); then
        action=${PLAN[i]%% *}
        name=${PLAN[i]##* }
        poll 120 "step $i: the ledgers consuming slice $i (beyond $before)" consumed_at_least $((before + 1))
        at=$(jq .consumed "$WORK/summed.json")
        case $action in
            term) term_ledger "$name" ;;
            kill) kill_ledger "$name" ;;
            start) start_ledger "$name" ;;
        esac
        done_events[$action]=$((done_events[$action] + 1))
        note+=" $action $name at $at consumed (slice $i started at $before; emit $(exited "$EMIT_PID" && echo done || echo still sending))"
    fi
    rc=0
    wait "$EMIT_PID" || rc=$?
    EMIT_PID=
    check_emit "$i" "$rc"
    if ((i < SLICES)); then
        if ((at < emitted_valid)); then
            note+=", $((emitted_valid - at)) events still to consume;"
            mid_stream=$((mid_stream + 1))
        else
            note+=", everything sent so far consumed;"
        fi
    fi
    echo "$note slice $i delivered ($emitted_valid valid events so far)"
done
wait_broker_restart
all_alive
t_steps=$((SECONDS - t_flow))
echo "all $SLICES slices sent in $t_steps s: ${done_events[term]} SIGTERMs, ${done_events[kill]} kill -9s, ${done_events[start]} starts of ledgers ($mid_stream of them with events still to consume); leader brokers killed and restarted: ${broker_kills[*]}"

# ---- every stopped ledger starts again; everything consumed and relayed
for name in "${NAMES[@]}"; do
    [[ -n ${PID[$name]} ]] || { start_ledger "$name"; echo "ledger $name started again for the end"; }
done
poll 150 "every offset of usage.events ($EXP_VALID valid events) consumed by some ledger" consumed_at_least "$EXP_VALID"
poll 120 "ledgers A, B and C sharing the $PARTITIONS partitions again (2 each)" all_split
poll 90 "every partition's entries relayed to usage.ledger" relayed
all_alive
t_consumed=$((SECONDS - t_flow))
echo "consumed and relayed $t_consumed s after the first slice"

# partitions that moved were rebuilt from usage.ledger (ledger/README.md, "Scale-out")
rebuilds=$(cat "$WORK"/ledger?.*.log | grep -c 'adopted [0-9]* entries, continuing at' || true)
adopted=$(cat "$WORK"/ledger?.*.log | grep -o 'adopted [0-9]* entries, continuing at' | awk '{ n += $2 } END { print n + 0 }')
((rebuilds > 0)) || fail "no ledger rebuilt a partition it took over from usage.ledger: the partitions never moved?"
echo "partitions taken over and rebuilt from usage.ledger: $rebuilds times, $adopted entries adopted"

# ---- exact: emit, the summed stats, every store
[[ $emitted_valid == "$EXP_VALID" && $emitted_invalid == "$EXP_INVALID" ]] ||
    fail "emit sent $emitted_valid valid and refused $emitted_invalid invalid lines, the generator expects $EXP_VALID and $EXP_INVALID"
[[ $(jq -S -c . "$WORK/invalid_by_reason.json") == $(jq -S -c .invalid_by_reason "$WORK/expect.json") ]] ||
    fail "emit's invalid lines by reason $(jq -S -c . "$WORK/invalid_by_reason.json"), expected $(jq -S -c .invalid_by_reason "$WORK/expect.json")"
summed || fail "stats over the three stores failed: $(cat "$WORK/summed.err")"
s="$WORK/summed.json"
got=$(jq -c '{stores,consumed,accepted,duplicate,conflict,dead_lettered}' "$s")
want=$(jq -n -c --argjson v "$EXP_VALID" --argjson a "$EXP_ACCEPTED" --argjson d "$EXP_DUPLICATE" --argjson c "$EXP_CONFLICT" \
    '{stores:3,consumed:$v,accepted:$a,duplicate:$d,conflict:$c,dead_lettered:0}')
[[ $got == "$want" ]] || fail "stats summed over the three stores: $got, expected $want (partitions: $(jq -c .partitions "$s"))"
[[ $(jq '[.partitions[].next_offset] | add' "$s") == "$EXP_VALID" &&
    $(jq '[.partitions[].next_sequence] | add' "$s") == "$EXP_ACCEPTED" ]] ||
    fail "the summed partitions' offsets and sequences are not consumed $EXP_VALID, accepted $EXP_ACCEPTED: $(jq -c .partitions "$s")"
echo "stats summed over 3 stores: $got (exact)"
for name in "${NAMES[@]}"; do
    st="$WORK/stats$name.json"
    "$UL" stats --data-dir "$WORK/ledger$name" >"$st" 2>"$WORK/stats$name.err" ||
        fail "stats on ledger $name failed: $(cat "$WORK/stats$name.err")"
    [[ $(jq '.gaps | length' "$st") == 0 && $(jq '.log_resets | length' "$st") == 0 ]] ||
        fail "ledger $name recorded gaps or log resets: $(jq -c '{gaps,log_resets}' "$st")"
    [[ $(jq '[.partitions[].next_offset] | add // 0' "$st") == $(jq .consumed "$st") &&
        $(jq '[.partitions[].next_sequence] | add // 0' "$st") == $(jq .accepted "$st") ]] ||
        fail "ledger $name: its counters disagree with its partitions' positions: $(jq -c . "$st")"
    "$UL" verify --data-dir "$WORK/ledger$name" >"$WORK/verify$name.out" 2>"$WORK/verify$name.err" ||
        fail "verify failed on ledger $name: $(cat "$WORK/verify$name.err") $(cat "$WORK/verify$name.out")"
    [[ $(jq .ok "$WORK/verify$name.out") == true &&
        $(jq .entries "$WORK/verify$name.out") == $(jq .accepted "$st") &&
        $(jq .dedup_keys "$WORK/verify$name.out") == $(jq .accepted "$st") ]] ||
        fail "verify on ledger $name: $(cat "$WORK/verify$name.out"), accepted $(jq .accepted "$st")"
    echo "ledger $name: verify ok, $(jq .entries "$WORK/verify$name.out") entries; store $(jq -c '{consumed,accepted,duplicate,conflict,partitions:(.partitions|keys)}' "$st")"
done

# ---- exact: the projection
projection_read_all() {
    local lag applied
    lag=$(metric projection_lag_entries) && applied=$(metric projection_entries_applied_total) || return 1
    ((lag == 0 && applied >= EXP_ACCEPTED))
}
poll 90 "the projection reading usage.ledger to its end ($EXP_ACCEPTED entries)" projection_read_all
all_alive
applied=$(metric projection_entries_applied_total) || fail "no /metrics from the projection"
stalled=$(metric projection_stalled_partitions) || fail "no /metrics from the projection"
repeated=$(metric projection_entries_repeated_total) || fail "no /metrics from the projection"
[[ $applied == "$EXP_ACCEPTED" ]] || fail "the projection applied $applied entries, expected $EXP_ACCEPTED"
[[ $stalled == 0 ]] || fail "$stalled usage.ledger partitions stalled at a gap in the projection"
"$UL" export counters --data-dir "$WORK/projection" --window month >"$WORK/month.got" 2>"$WORK/export.err" ||
    fail "export counters failed: $(cat "$WORK/export.err")"
sort -o "$WORK/month.got" "$WORK/month.got"
read -r sum count < <(sum_cells "$WORK/month.got")
[[ $count == "$EXP_ACCEPTED" ]] || fail "the projection counted $count events, expected $EXP_ACCEPTED"
[[ $sum == "$EXP_SUM" ]] || fail "the projection's quantity sum is $sum, expected $EXP_SUM"
cmp -s "$WORK/month.got" "$WORK/month.expected" ||
    fail "the projection's month cells differ from the generator's: $(diff "$WORK/month.expected" "$WORK/month.got" | head -n 6)"
echo "projection: applied $applied entries ($repeated repeats skipped), month counters: $count events, quantity sum $sum, $(wc -l <"$WORK/month.got") cells equal to the generator's (exact)"

echo "summary: seed $SEED; $LINES lines in $SLICES slices; ledger events ${done_events[term]} SIGTERM, ${done_events[kill]} kill -9, ${done_events[start]} start ($mid_stream with events still to consume); leader broker kills: ${broker_kills[*]}; $rebuilds rebuilds from usage.ledger ($adopted entries adopted); cluster ${t_cluster} s, steps ${t_steps} s, consumed and relayed at ${t_consumed} s, total $((SECONDS - t_start)) s"
echo "1 passed, 0 failed"
