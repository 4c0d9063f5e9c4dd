#!/usr/bin/env bash
# The production shape on one machine (CONTRACT.md): nginx :8080 in front of three gateway nodes
# (:8101-8103) and two API processes (:8111-8112), commerce's event consumer (notifications and
# analytics, python -m commerce.consumer), a Celery worker, beat and Flower (:5555), on MariaDB,
# Redis and RabbitMQ.   usage: scripts/cluster.sh start|stop|status
# REDIS_CLUSTER=1 (`make cluster REDIS_CLUSTER=1`) puts all Redis data and the gateways' sharded
# room fan-out on the six-process Redis Cluster of scripts/redis_cluster.sh (REDIS_URL=
# redis+cluster://...; CLUSTER_REDIS_URL is then not used; REDIS_CLUSTER_PORT moves its ports).
# The Celery broker stays where CLUSTER_BROKER_URL says (RabbitMQ by default).
# DB_REPLICA=1 runs the database as a primary and a read replica (scripts/mariadb_pair.sh,
# 127.0.0.1:3316 and :3317) and gives the APIs DATABASE_REPLICA_URLS; CLUSTER_DATABASE_URL then
# names a database on the pair's primary (default: livecommerce there).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=var/cluster
PY=.venv/bin/python
mkdir -p "$RUN" var/nginx

export APP_ENV="${APP_ENV:-development}"
if [ "${DB_REPLICA:-0}" = 1 ]; then
  export DATABASE_URL="${CLUSTER_DATABASE_URL:-mysql+aiomysql://root@127.0.0.1:3316/livecommerce}"
else
  export DATABASE_URL="${CLUSTER_DATABASE_URL:-mysql+aiomysql://root@127.0.0.1:3306/livecommerce}"
fi
export REDIS_URL="${CLUSTER_REDIS_URL:-redis://127.0.0.1:6379/0}"
export CELERY_BROKER_URL="${CLUSTER_BROKER_URL:-amqp://guest:guest@127.0.0.1:5672//}"
export JWT_PRIVATE_KEY_FILE="$PWD/$RUN/jwt-private.pem" JWT_PUBLIC_KEY_FILE="$PWD/$RUN/jwt-public.pem"
export TRUSTED_PROXIES='["127.0.0.1"]' LOG_JSON=true

start_one() {  # start_one NAME CMD...
  local name=$1; shift
  if [ -f "$RUN/$name.pid" ] && kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
    echo "  $name already running"; return
  fi
  setsid "$@" >>"$RUN/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN/$name.pid"
}

wait_url() {  # wait_url URL NAME
  for _ in $(seq 1 120); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && { echo "  $2 ready ($1)"; return 0; }
    sleep 0.5
  done
  echo "ERROR: $2 did not become ready; see $RUN/$2.log" >&2; tail -20 "$RUN/$2.log" >&2; return 1
}

start() {
  DB_REPLICA=0 REDIS_CLUSTER=0 bash scripts/ensure_services.sh  # those two are started below
  if [ "${REDIS_CLUSTER:-0}" = 1 ]; then  # the gateways' room fan-out on the private Redis Cluster
    # Started here, stopped by `stop` (a cluster that was already running is left running).
    local rc=${REDIS_CLUSTER_PORT:-7001}  # redis_cluster.sh's base port (movable)
    bash scripts/redis_cluster.sh status | grep -qv ' down$' || echo "$rc" >"$RUN/redis-cluster.started"
    bash scripts/redis_cluster.sh start
    REDIS_URL="redis+cluster://127.0.0.1:$rc,127.0.0.1:$((rc + 1)),127.0.0.1:$((rc + 2))"
    export REDIS_URL SOCKETIO_REDIS_URL="$REDIS_URL"
  fi
  if [ ! -f "$RUN/jwt-private.pem" ]; then
    $PY -c "from shared.tokens import generate_key_pair as g; p,q=g(); open('$RUN/jwt-private.pem','w').write(p); open('$RUN/jwt-public.pem','w').write(q)"
    chmod 600 "$RUN/jwt-private.pem"
  fi
  local db port
  read -r db port < <($PY -c "from sqlalchemy.engine import make_url as m; u=m('$DATABASE_URL'); print(u.database, u.port or 3306)")
  if [ "${DB_REPLICA:-0}" = 1 ]; then  # the APIs' lag-tolerant reads on the pair's replica
    # Started here, stopped by `stop` (a pair that was already running is left running).
    mysql -uroot -h127.0.0.1 -P"${MARIADB_REPLICA_PORT:-3317}" -e 'SELECT 1' >/dev/null 2>&1 \
      || echo "$port" >"$RUN/mariadb-pair.started"
    MARIADB_PRIMARY_PORT=$port bash scripts/mariadb_pair.sh start
    export DATABASE_REPLICA_URLS="mysql+aiomysql://reader:reader@127.0.0.1:${MARIADB_REPLICA_PORT:-3317}/$db"
  fi
  mysql -uroot -h127.0.0.1 -P"$port" -e "CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
  .venv/bin/alembic upgrade head
  # The APIs leave the event consumer to its own process (off their event loops).
  for port in 8111 8112; do
    NOTIFICATIONS_CONSUMER_ENABLED=false start_one "api-$port" $PY -m commerce --port "$port"
  done
  start_one consumer $PY -m commerce.consumer
  for port in 8101 8102 8103; do
    start_one "gateway-$port" $PY -m realtime --port "$port" --node-id "gateway-$port"
  done
  start_one worker .venv/bin/celery -A commerce.worker worker -Q celery,payments,media,notifications \
    -n "worker@%h" --concurrency 2 -l info
  start_one beat .venv/bin/celery -A commerce.worker beat -s "$RUN/celerybeat-schedule" -l info
  # Flower reads queue lengths from RabbitMQ's management API (enabled by ensure_services.sh).
  FLOWER_BROKER_API="${FLOWER_BROKER_API:-http://guest:guest@127.0.0.1:15672/api/}" \
    start_one flower .venv/bin/celery -A commerce.worker flower --port=5555 --address=127.0.0.1
  start_one nginx nginx -p "$PWD/var/nginx/" -c "$PWD/nginx/nginx.conf" -e stderr -g 'daemon off;'
  for port in 8111 8112; do wait_url "http://127.0.0.1:$port/readyz" "api-$port"; done
  for port in 8101 8102 8103; do wait_url "http://127.0.0.1:$port/readyz" "gateway-$port"; done
  wait_url "http://127.0.0.1:8080/healthz" nginx
  wait_url "http://127.0.0.1:5555/healthcheck" flower || true
  echo "cluster up: http://127.0.0.1:8080 (API /api/v1, docs /docs, socket.io /socket.io/), flower :5555"
  echo "logs in $RUN/; stop with: make cluster-stop"
}

stop() {
  for f in "$RUN"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 2
  for f in "$RUN"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$f"
  done
  if [ -f "$RUN/redis-cluster.started" ]; then
    REDIS_CLUSTER_PORT=$(cat "$RUN/redis-cluster.started") bash scripts/redis_cluster.sh stop
    rm -f "$RUN/redis-cluster.started"
  fi
  if [ -f "$RUN/mariadb-pair.started" ] && [ "${KEEP_MARIADB_PAIR:-0}" != 1 ]; then
    MARIADB_PRIMARY_PORT=$(cat "$RUN/mariadb-pair.started") bash scripts/mariadb_pair.sh stop
    rm -f "$RUN/mariadb-pair.started"
  fi
  echo "cluster stopped"
}

status() {
  for f in "$RUN"/*.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid)
    if kill -0 "$(cat "$f")" 2>/dev/null; then echo "$name: running"; else echo "$name: dead"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
