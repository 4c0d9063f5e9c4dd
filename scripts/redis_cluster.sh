#!/usr/bin/env bash
# A private six-process Redis Cluster (three masters with a replica each) on 127.0.0.1:7001-7006,
# for the tests and `make cluster REDIS_CLUSTER=1`. Never touches the shared Redis on 6379.
#   scripts/redis_cluster.sh start   # idempotent: starts what is down, creates the cluster once
#   scripts/redis_cluster.sh stop
# Data and logs: $REDIS_CLUSTER_DIR (default var/redis-cluster). Clients use
# `redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003`.
set -euo pipefail

cd "$(dirname "$0")/.."
DIR=${REDIS_CLUSTER_DIR:-$PWD/var/redis-cluster}
PORTS=(7001 7002 7003 7004 7005 7006)
log() { printf '[redis-cluster] %s\n' "$*"; }
up() { redis-cli -p "$1" ping 2>/dev/null | grep -q PONG; }

start() {
  mkdir -p "$DIR"
  exec 9>"$DIR/.lock"
  flock 9  # two test runs starting it at once create it once
  for port in "${PORTS[@]}"; do
    up "$port" && continue
    mkdir -p "$DIR/$port"
    redis-server --port "$port" --bind 127.0.0.1 --protected-mode no --daemonize yes \
      --dir "$DIR/$port" --logfile "$DIR/$port/redis.log" --pidfile "$DIR/$port/redis.pid" \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
      --appendonly yes --appendfsync everysec --save '' </dev/null >/dev/null 2>&1 9>&-
  done
  for port in "${PORTS[@]}"; do
    for _ in $(seq 1 100); do up "$port" && break; sleep 0.1; done
    up "$port" || { log "ERROR: redis on $port did not start"; exit 1; }
  done
  if ! redis-cli -p 7001 cluster info | grep -q 'cluster_state:ok'; then
    if [ "$(redis-cli -p 7001 cluster info | sed -n 's/^cluster_known_nodes:\([0-9]*\).*/\1/p')" = 1 ]; then
      log "creating the cluster"
      redis-cli --cluster create $(printf '127.0.0.1:%s ' "${PORTS[@]}") \
        --cluster-replicas 1 --cluster-yes >"$DIR/create.log"
    fi
    for _ in $(seq 1 100); do
      redis-cli -p 7001 cluster info | grep -q 'cluster_state:ok' && break; sleep 0.1
    done
  fi
  redis-cli -p 7001 cluster info | grep -q 'cluster_state:ok' \
    || { log "ERROR: cluster not ok"; exit 1; }
  log "up on 127.0.0.1:${PORTS[0]}-${PORTS[5]}"
}

stop() {
  for port in "${PORTS[@]}"; do
    [ -f "$DIR/$port/redis.pid" ] && kill "$(cat "$DIR/$port/redis.pid")" 2>/dev/null || true
  done
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
