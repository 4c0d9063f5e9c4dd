#!/usr/bin/env bash
# Make sure the real services the test suite needs are installed and running:
# MariaDB (127.0.0.1:3306, root without password), Redis (6379), RabbitMQ (5672), plus the
# Debian tools the tests drive (nginx, libmagic, ffmpeg, chromium, wrk, Go). Installs missing
# packages when run as root, starts stopped servers, and waits until each answers. Idempotent;
# safe to run every time.
set -euo pipefail

log() { printf '[services] %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # wait_for NAME SECONDS CMD...
  local name=$1 secs=$2; shift 2
  for _ in $(seq 1 "$((secs * 2))"); do
    if "$@" >/dev/null 2>&1; then log "$name is up"; return 0; fi
    sleep 0.5
  done
  log "ERROR: $name did not come up within ${secs}s"; return 1
}

missing=()
have mariadbd || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
have redis-server || missing+=(redis-server)
have rabbitmq-server || [ -x /usr/sbin/rabbitmq-server ] || missing+=(rabbitmq-server)
have nginx || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
ldconfig -p 2>/dev/null | grep -q libmagic.so.1 || missing+=(libmagic1)
have ffmpeg && have ffprobe || missing+=(ffmpeg)
have wrk || missing+=(wrk)  # bench/flash_sale.py's load generator (tests/bench smoke test)
have go || missing+=(golang-go)  # bench/fanout/stormgen, the Go join-storm generator (tests/bench)
# The H5 page tests (tests/web) drive Debian's Chromium through Playwright, with fonts for
# Chinese, Thai and emoji so the screenshots show what a phone shows.
[ -x /usr/bin/chromium ] || missing+=(chromium)
for font in fonts-noto-cjk fonts-thai-tlwg fonts-noto-color-emoji; do
  dpkg-query -W -f='${Status}' "$font" 2>/dev/null | grep -q "ok installed" || missing+=("$font")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts nginx on :80 after install; the tests run their own instances.
    if pgrep -x nginx >/dev/null && [ -f /run/nginx.pid ]; then nginx -s quit 2>/dev/null || true; fi
  else
    log "ERROR: missing ${missing[*]} and not root; install them first"; exit 1
  fi
fi

# --- MariaDB -------------------------------------------------------------------------------
if ! mysqladmin -uroot -h127.0.0.1 --connect-timeout=2 ping >/dev/null 2>&1; then
  if ! mysqladmin -uroot --connect-timeout=2 ping >/dev/null 2>&1; then
    log "starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  fi
  wait_for MariaDB 60 mysqladmin -uroot --connect-timeout=2 ping
  # A fresh Debian install lets root in only over the socket; the tests connect over TCP.
  if ! mysql -uroot -h127.0.0.1 -e 'SELECT 1' >/dev/null 2>&1; then
    log "allowing root over TCP from 127.0.0.1 without a password (test machine)"
    mysql -uroot -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
      GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
      ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
      FLUSH PRIVILEGES;"
  fi
fi
wait_for "MariaDB (tcp)" 30 mysql -uroot -h127.0.0.1 -e 'SELECT 1'

# --- Redis ---------------------------------------------------------------------------------
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  # Persisted as production runs it (docs/operations.md): the append-only file, fsynced every
  # second, so a restart keeps room state, revocations and undelivered events.
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly yes --appendfsync everysec \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
wait_for Redis 30 redis-cli -h 127.0.0.1 -p 6379 ping

# --- RabbitMQ ------------------------------------------------------------------------------
if ! port_open 5672; then
  log "starting RabbitMQ"
  rabbitmq-server -detached >/dev/null 2>&1 || true
fi
wait_for RabbitMQ 120 port_open 5672
# The management API (:15672) lets Flower show queue lengths (make cluster); enabling a plugin
# is online and idempotent.
if ! port_open 15672; then
  rabbitmq-plugins enable --quiet rabbitmq_management >/dev/null 2>&1 \
    || log "could not enable rabbitmq_management (Flower will not show queue lengths)"
fi

# --- Scale-out shapes (opt-in: fixed ports, private processes) ----------------------------
# REDIS_CLUSTER=1: the six-process Redis Cluster on 127.0.0.1:7001-7006. DB_REPLICA=1: a MariaDB
# primary and GTID read replica on 127.0.0.1:3316/3317 (the shared server above has no binary
# log to follow). `make cluster ...` starts them (test sessions start and stop the Redis Cluster
# themselves: tests/helpers/redis_cluster.py).
if [ "${REDIS_CLUSTER:-0}" = 1 ]; then bash "$(dirname "$0")/redis_cluster.sh" start; fi
if [ "${DB_REPLICA:-0}" = 1 ]; then bash "$(dirname "$0")/mariadb_pair.sh" start; fi
log "all services ready"
