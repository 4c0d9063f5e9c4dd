# Sourced by the mysql image's entrypoint on the replica's first start (docker-entrypoint-initdb.d).
# The replica gets no MYSQL_DATABASE/MYSQL_USER: what the primary's binary log holds arrives by
# replication, so nothing collides. What the primary's entrypoint may have kept out of its log
# (it writes some setup with sql_log_bin=0) is made here, unlogged and idempotently: the
# database and the `reader` user. Then the replica follows the primary by GTID auto-positioning
# from its first transaction and becomes read-only for everyone (persisted across restarts).
docker_process_sql --database=mysql <<SQL
SET SESSION sql_log_bin = 0;
CREATE DATABASE IF NOT EXISTS \`${REPLICA_DATABASE}\`
  CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci;
CREATE USER IF NOT EXISTS 'reader'@'%' IDENTIFIED BY '${MYSQL_READER_PASSWORD:-reader}';
GRANT SELECT ON \`${REPLICA_DATABASE}\`.* TO 'reader'@'%';
GRANT REPLICATION CLIENT ON *.* TO 'reader'@'%';
CHANGE REPLICATION SOURCE TO SOURCE_HOST='mysql', SOURCE_PORT=3306, SOURCE_USER='repl',
  SOURCE_PASSWORD='${MYSQL_REPL_PASSWORD:-repl}', SOURCE_AUTO_POSITION=1,
  GET_SOURCE_PUBLIC_KEY=1, SOURCE_CONNECT_RETRY=5;
START REPLICA;
SET PERSIST read_only = ON;
SET PERSIST super_read_only = ON;
SQL
