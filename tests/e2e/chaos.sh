#!/usr/bin/env bash
# The seeded crash simulation (ops/chaos.py) as ./ops/test runs it: 20 SIGKILLs of `up` (ledger,
# projection, wait=committed ingest) and a standalone `project` (plain ingest) while two clients
# send events; then the ledger holds every event exactly once, every accepted wait=committed
# answer is in it, verify passes, both projections' counters equal the events sent, and replay
# agrees. A new seed each run, printed with the command that replays its schedule.
# Usage: chaos.sh BIN ROOT
set -uo pipefail
exec python3 "$2/ops/chaos.py" --bin "$1" --kills 20
