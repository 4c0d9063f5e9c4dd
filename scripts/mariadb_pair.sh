#!/usr/bin/env bash
# A private MariaDB primary and read replica (GTID replication) on 127.0.0.1:3316 and :3317,
# for `make cluster DB_REPLICA=1` and the tests. Never touches the shared MariaDB on 3306: a
# replica needs its primary's binary log, and the shared server runs without one (turning it on
# means restarting it under everyone's tests).
#   scripts/mariadb_pair.sh start    # idempotent: installs once, starts what is down, wires once
#   scripts/mariadb_pair.sh stop
#   scripts/mariadb_pair.sh status   # both servers and the replica's SHOW SLAVE STATUS
# Grants as production sets them up (docs/deploy.md): `repl` (REPLICATION SLAVE) is what the
# replica follows the primary as; `reader` (SELECT, SLAVE MONITOR) is what the API reads the
# replica as. root has no password and both servers listen on 127.0.0.1 only (development).
# Clients: DATABASE_URL=mysql+aiomysql://root@127.0.0.1:3316/<db>,
#          DATABASE_REPLICA_URLS=mysql+aiomysql://reader:reader@127.0.0.1:3317/<db>
set -euo pipefail

cd "$(dirname "$0")/.."
DIR=${MARIADB_PAIR_DIR:-$PWD/var/mariadb-pair}
PRIMARY_PORT=${MARIADB_PRIMARY_PORT:-3316}
REPLICA_PORT=${MARIADB_REPLICA_PORT:-3317}
ME=$(id -un)
log() { printf '[mariadb-pair] %s\n' "$*"; }
sql() { local port=$1; shift; mysql -uroot -h127.0.0.1 -P"$port" --connect-timeout=2 "$@"; }
up() { sql "$1" -e 'SELECT 1' >/dev/null 2>&1; }

start_server() {  # start_server NAME PORT SERVER-ARGS...
  local name=$1 port=$2; shift 2
  local dir="$DIR/$name"
  if [ ! -d "$dir/data/mysql" ]; then
    mkdir -p "$dir"
    mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal \
      --skip-test-db --user="$ME" >"$dir/install.log" 2>&1
  fi
  if ! up "$port"; then
    setsid mariadbd --no-defaults --datadir="$dir/data" --port="$port" --bind-address=127.0.0.1 \
      --socket="$dir/sock" --pid-file="$dir/mariadbd.pid" --user="$ME" \
      --innodb-buffer-pool-size=128M --max-connections=300 "$@" \
      >>"$dir/mariadbd.log" 2>&1 </dev/null 9>&- &
  fi
  for _ in $(seq 1 300); do up "$port" && return 0; sleep 0.1; done
  log "ERROR: $name did not start on $port; see $dir/mariadbd.log"; tail -20 "$dir/mariadbd.log" >&2
  exit 1
}

start() {
  mkdir -p "$DIR"
  exec 9>"$DIR/.lock"
  flock 9  # two runs starting it at once set it up once
  start_server primary "$PRIMARY_PORT" --server-id=1 --log-bin=primary-bin --binlog-format=ROW \
    --gtid-strict-mode=1
  # Users first, so the replica gets them with everything else from the binary log.
  sql "$PRIMARY_PORT" -e "
    CREATE USER IF NOT EXISTS 'repl'@'127.0.0.1' IDENTIFIED BY 'repl';
    GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';
    CREATE USER IF NOT EXISTS 'reader'@'127.0.0.1' IDENTIFIED BY 'reader';
    GRANT SELECT, SLAVE MONITOR ON *.* TO 'reader'@'127.0.0.1';"
  start_server replica "$REPLICA_PORT" --server-id=2 --skip-log-bin --read-only=1 \
    --gtid-strict-mode=1 --relay-log=replica-relay
  if [ -z "$(sql "$REPLICA_PORT" -N -e 'SHOW SLAVE STATUS')" ]; then
    log "replica follows the primary (GTID)"
    sql "$REPLICA_PORT" -e "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$PRIMARY_PORT,
      MASTER_USER='repl', MASTER_PASSWORD='repl', MASTER_USE_GTID=slave_pos,
      MASTER_CONNECT_RETRY=1; START SLAVE;"
  fi
  sync_replica 60
  log "up: primary 127.0.0.1:$PRIMARY_PORT, replica 127.0.0.1:$REPLICA_PORT"
}

sync_replica() {  # sync_replica SECONDS: wait until the replica has applied the primary's log
  local pos waited
  pos=$(sql "$PRIMARY_PORT" -N -e 'SELECT @@gtid_binlog_pos')
  [ -n "$pos" ] || return 0
  waited=$(sql "$REPLICA_PORT" -N -e "SELECT MASTER_GTID_WAIT('$pos', $1)")
  [ "$waited" = 0 ] || { log "ERROR: replica did not reach $pos"; status >&2; exit 1; }
}

stop() {
  for name in replica primary; do
    local pid="$DIR/$name/mariadbd.pid"
    [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
  done
  for name in replica primary; do
    local pid="$DIR/$name/mariadbd.pid"
    for _ in $(seq 1 300); do [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null || break; sleep 0.1; done
  done
  log "stopped"
}

status() {
  up "$PRIMARY_PORT" && log "primary :$PRIMARY_PORT up" || log "primary :$PRIMARY_PORT down"
  if up "$REPLICA_PORT"; then
    log "replica :$REPLICA_PORT up"
    sql "$REPLICA_PORT" -e 'SHOW SLAVE STATUS\G' \
      | grep -E 'Slave_(IO|SQL)_Running:|Seconds_Behind_Master|Gtid_IO_Pos|Last_(IO|SQL)_Error:'
  else
    log "replica :$REPLICA_PORT down"
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
