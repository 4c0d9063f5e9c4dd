# Sourced by the mysql image's entrypoint on the primary's first start (docker-entrypoint-initdb.d).
# The users a read replica needs, created on the primary so they reach the replica through the
# binary log with everything else: `repl` (what the replica follows the primary as) and
# `reader` (what the API reads the replica as: SELECT and REPLICATION CLIENT for
# SHOW REPLICA STATUS, nothing else).
docker_process_sql --database=mysql <<SQL
CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY '${MYSQL_REPL_PASSWORD:-repl}';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
CREATE USER IF NOT EXISTS 'reader'@'%' IDENTIFIED BY '${MYSQL_READER_PASSWORD:-reader}';
GRANT SELECT ON \`${MYSQL_DATABASE}\`.* TO 'reader'@'%';
GRANT REPLICATION CLIENT ON *.* TO 'reader'@'%';
SQL
