#!/usr/bin/env bash
# `make test`'s two pytest passes side by side: the main pass (PYTEST_ARGS) and, unless
# CLUSTER_PASS=0, the Redis Cluster pass (`make test-cluster`, on its own cluster ports, so it
# never meets the main pass's cluster-parametrized tests on 7001). They share nothing else but
# the shared RabbitMQ's queues, which the tests that consume them lock one test at a time
# (tests/helpers/locks.py). Run one after the other they took ~22 + 4.5 min; side by side the
# wall time is the main pass's (docs/operations.md, "The test run").
#
# The main pass prints as it goes (and to var/test-logs/main.log); the cluster pass writes to
# var/test-logs/cluster.log, printed whole when the main pass has ended (after waiting for it),
# so neither's output is cut into the other's. Fails if either pass fails.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LOGS=var/test-logs
mkdir -p "$LOGS"
read -r -a args <<<"${PYTEST_ARGS:-}"

if [ "${CLUSTER_PASS:-1}" = 0 ]; then
  exec "$PY" -m pytest "${args[@]}"
fi

started=$SECONDS
# Its own session (so its output stays out of the terminal): on Ctrl-C or SIGTERM here, the
# trap interrupts the whole pass as Ctrl-C would (SIGINT: pytest runs its teardown, and the
# session's fixtures stop the Redis Cluster, which SIGTERM would leave running), then SIGTERM
# for what is still there after 60 s. A background command starts with SIGINT ignored (no job
# control in a script): `env --default-signal=INT` gives it back.
setsid env --default-signal=INT make --no-print-directory test-cluster >"$LOGS/cluster.log" 2>&1 &
cluster=$!
stop_cluster() {
  kill -INT -- "-$cluster" 2>/dev/null
  for _ in $(seq 60); do ps -o stat= -s "$cluster" | grep -qv "^Z" || break; sleep 1; done
  kill -TERM -- "-$cluster" 2>/dev/null
  wait "$cluster" 2>/dev/null
}
trap 'stop_cluster; exit 130' INT TERM
echo "[test] cluster pass started in the background (output: $LOGS/cluster.log)"

"$PY" -m pytest "${args[@]}" 2>&1 | tee "$LOGS/main.log"
main_rc=${PIPESTATUS[0]}
main_s=$((SECONDS - started))

wait "$cluster"
cluster_rc=$?
trap - INT TERM
echo
echo "==================== cluster pass (make test-cluster, $LOGS/cluster.log) ===================="
cat "$LOGS/cluster.log"
echo "[test] main pass: exit $main_rc after ${main_s} s; cluster pass: exit $cluster_rc;" \
  "both done after $((SECONDS - started)) s"
[ "$main_rc" = 0 ] && [ "$cluster_rc" = 0 ]
