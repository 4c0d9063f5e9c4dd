#!/usr/bin/env bash
# A private six-process Redis Cluster (three masters with a replica each) on 127.0.0.1:7001-7006,
# for the tests and `make cluster REDIS_CLUSTER=1`. Never touches the shared Redis on 6379.
#   scripts/redis_cluster.sh start   # idempotent: starts what is down, creates the cluster once
#   scripts/redis_cluster.sh stop    # stops this checkout's six and waits until they are gone
#   scripts/redis_cluster.sh status  # per port: ours, foreign (another checkout's) or down
# Data and logs: $REDIS_CLUSTER_DIR (default var/redis-cluster). Clients use
# `redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003`.
# A server is ours when its working directory (CONFIG GET dir) is ours for that port. `start`
# adopts ours that are running and refuses (exit 3) when any port holds someone else's Redis:
# another checkout's cluster left running would otherwise be used, without our pid files.
set -euo pipefail

cd "$(dirname "$0")/.."
DIR=${REDIS_CLUSTER_DIR:-$PWD/var/redis-cluster}
BASE=${REDIS_CLUSTER_PORT:-7001}  # another base moves all six (and their bus ports, +10000)
PORTS=($(seq "$BASE" $((BASE + 5))))
log() { printf '[redis-cluster] %s\n' "$*"; }
up() { redis-cli -p "$1" ping 2>/dev/null | grep -q PONG; }
owner() { redis-cli -p "$1" config get dir 2>/dev/null | sed -n 2p; }
ours() { [ "$(owner "$1")" = "$(cd "$DIR/$1" 2>/dev/null && pwd -P)" ]; }
# Three of the six are replicas, each with its link to its master up (its first sync done). A
# restarted master counts once it has turned into its successor's replica and synced.
synced() {
  local port info replicas=0
  for port in "${PORTS[@]}"; do
    info=$(redis-cli -p "$port" info replication 2>/dev/null | tr -d '\r')
    grep -q '^role:slave' <<<"$info" || continue
    grep -q '^master_link_status:up' <<<"$info" || return 1
    replicas=$((replicas + 1))
  done
  [ "$replicas" -eq $((${#PORTS[@]} / 2)) ]
}

all_ok() {
  local port
  for port in "${PORTS[@]}"; do
    redis-cli -p "$port" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || return 1
  done
}

status() {
  for port in "${PORTS[@]}"; do
    if ! up "$port"; then echo "$port down"
    elif ours "$port"; then echo "$port ours"
    else echo "$port foreign $(owner "$port")"; fi
  done
}

start() {
  mkdir -p "$DIR"
  exec 9>"$DIR/.lock"
  flock 9  # two test runs starting it at once create it once
  for port in "${PORTS[@]}"; do
    if up "$port" && ! ours "$port"; then
      log "ERROR: 127.0.0.1:$port is another Redis ($(owner "$port" || echo '?')), not this checkout's"
      log "stop it with that checkout's scripts/redis_cluster.sh stop, then try again"
      exit 3
    fi
  done
  for port in "${PORTS[@]}"; do
    up "$port" && continue
    mkdir -p "$DIR/$port"
    redis-server --port "$port" --bind 127.0.0.1 --protected-mode no --daemonize yes \
      --dir "$DIR/$port" --logfile "$DIR/$port/redis.log" --pidfile "$DIR/$port/redis.pid" \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
      --repl-diskless-sync-delay 0 \
      --appendonly yes --appendfsync everysec --save '' </dev/null >/dev/null 2>&1 9>&-
  done
  for port in "${PORTS[@]}"; do
    for _ in $(seq 1 100); do up "$port" && break; sleep 0.1; done
    up "$port" || { log "ERROR: redis on $port did not start"; exit 1; }
  done
  if ! redis-cli -p "$BASE" cluster info | grep -q 'cluster_state:ok'; then
    if [ "$(redis-cli -p "$BASE" cluster info | sed -n 's/^cluster_known_nodes:\([0-9]*\).*/\1/p')" = 1 ]; then
      log "creating the cluster"
      redis-cli --cluster create $(printf '127.0.0.1:%s ' "${PORTS[@]}") \
        --cluster-replicas 1 --cluster-yes >"$DIR/create.log"
    fi
  fi
  # Every node, not only the first: each reaches `ok` on its own once gossip has shown it every
  # slot's owner, and until then it answers CLUSTERDOWN for the slots it serves (a client's
  # first command right after `start` failed so on a fresh cluster). Up to 20 s, as the two
  # waits this replaces (the first node's, then every node's) allowed together.
  for _ in $(seq 1 200); do all_ok && break; sleep 0.1; done
  all_ok || { log "ERROR: cluster not ok on every node"; exit 1; }
  # Ready only once every replica holds its master's data: a replica that has not finished its
  # first sync since it (or its master) started refuses to take over when the master dies
  # ("Disconnected from master for longer than allowed": its data age counts from never), so
  # a master SIGKILLed meanwhile stays dead with its slots, and clients with it, until it is
  # back. The sync starts at once (no --repl-diskless-sync-delay, 5 s by default).
  for _ in $(seq 1 300); do synced && break; sleep 0.1; done
  synced || { log "ERROR: the replicas have not synced with their masters"; exit 1; }
  log "up on 127.0.0.1:${PORTS[0]}-${PORTS[5]}"
}

stop() {
  local mine=()
  for port in "${PORTS[@]}"; do
    if up "$port" && ours "$port"; then
      mine+=("$port")
      redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    fi
  done
  # Until each is gone: a server still answering while it exits would be taken for running
  # by a `start` right after, which then would not start it.
  for port in "${mine[@]}"; do
    for _ in $(seq 1 100); do up "$port" || break; sleep 0.1; done
  done
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
