#!/usr/bin/env bash
# Issue 20's four realtime benchmarks, each against the Node socket.io reference in the same run
# (BENCHMARKS.md, "Realtime performance"). About 15 minutes. Every run.py call appends its JSON
# lines to var/bench-fanout/results.jsonl and prints a markdown table.
#
#   bash bench/fanout/realtime_perf.sh [redis-url]      # default redis://127.0.0.1:6379/0
#
# On a shared machine run it under `flock /tmp/lc-bench.lock` and compare ratios to Node only.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
REDIS="${1:-redis://127.0.0.1:6379/0}"
RUN=("$PY" bench/fanout/run.py --redis-url "$REDIS")

# 1. Join storm (3,000 and 10,000 clients, 500 in flight) and idle memory per connection, plain.
"${RUN[@]}" --servers node,gateway --procs 1,2 --chatters "" --idle 10000 \
    --joinstorm 3000,10000 --joinstorm-concurrency 500
# 2. Idle memory per connection, each socket joined to one room.
"${RUN[@]}" --servers node,gateway --procs 1 --chatters "" --idle 10000 --idle-join
# 3. Quiet room: 20 chatters at 0.5 msg/s to 1,000 receivers.
"${RUN[@]}" --servers node,gateway --procs 1,2 --idle 0 --receivers 1000 --chatters 20 \
    --rate 0.5 --duration 30 --warmup 5
# 4. Busy rooms: 50, 150 and 300 msg/s offered to 1,000 receivers.
"${RUN[@]}" --servers node,gateway --procs 1,2 --idle 0 --receivers 1000 --chatters 50,150,300 \
    --duration 15 --warmup 5
# Where one idle connection's Python heap goes (tracemalloc, by source file).
"$PY" bench/fanout/socket_memory.py --connections 2000
"$PY" bench/fanout/socket_memory.py --connections 2000 --join
