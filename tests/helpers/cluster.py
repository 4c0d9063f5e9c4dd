"""`make cluster` (scripts/cluster.sh) for a test: nginx :8080, gateways :8101-8103, APIs
:8111-8112, worker, beat and Flower :5555, on a fresh MariaDB database and the test's Redis DB
(with `db_replica`, on the private primary and read replica of `make cluster DB_REPLICA=1`).

The ports are fixed, so tests using it run under `flock /tmp/lc-cluster.lock`; it skips, saying
why, when any of them is taken (a developer's own `make cluster`), and always stops the cluster
and drops its database. The test Redis DB is also the Celery broker here, so the cluster's
worker never takes tasks from other test runs sharing RabbitMQ.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator

import httpx
import pymysql
import pytest
import redis as sync_redis

from tests.helpers.procs import REPO_ROOT, child_env

PORTS = (8080, 8101, 8102, 8103, 8111, 8112, 5555)
PAIR_PORTS = (3316, 3317)  # DB_REPLICA=1: scripts/mariadb_pair.sh's primary and replica
NGINX = "http://127.0.0.1:8080"


def _taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _cluster(action: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "scripts/cluster.sh", action], cwd=REPO_ROOT, env=env, capture_output=True,
        text=True, timeout=150,
    )  # fmt: skip


def _tails() -> str:
    logs = REPO_ROOT / "var" / "cluster"
    return "".join(f"\n--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(logs.glob("*.log")))


@contextlib.contextmanager
def running_cluster(
    redis_url: str, *, db_replica: bool = False, redis_cluster_port: int | None = None
) -> Iterator[str]:
    """Start the cluster; yields nginx's base URL. `db_replica`: `DB_REPLICA=1`, the
    database on scripts/mariadb_pair.sh's primary (:3316) with its read replica (:3317)
    serving the APIs' lag-tolerant reads. `redis_cluster_port`: `REDIS_CLUSTER=1`, all Redis
    data and the gateways' room fan-out on scripts/redis_cluster.sh's six processes from that
    base port (`free_cluster_base()`, emptied once up); the Celery broker stays on
    `redis_url`. What the cluster started is stopped with it."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    ports = PORTS + (PAIR_PORTS if db_replica else ())
    taken = [p for p in ports if _taken(p)]
    if taken:
        pytest.skip(f"cluster ports {taken} are in use (a running `make cluster`?)")
    db = f"lc_cluster_{uuid.uuid4().hex[:8]}"
    db_port = PAIR_PORTS[0] if db_replica else 3306
    env = child_env({
        "CLUSTER_DATABASE_URL": f"mysql+aiomysql://root@127.0.0.1:{db_port}/{db}",
        "CLUSTER_REDIS_URL": redis_url,
        "CLUSTER_BROKER_URL": redis_url,
        "BCRYPT_ROUNDS": "4",
        "DB_REPLICA": "1" if db_replica else "0",
        "REDIS_CLUSTER": "0" if redis_cluster_port is None else "1",
        "REDIS_CLUSTER_PORT": str(redis_cluster_port or 7001),
        "DATABASE_URL": None, "REDIS_URL": None, "CELERY_BROKER_URL": None,
        "DATABASE_REPLICA_URLS": None,
    })  # fmt: skip
    try:
        if redis_cluster_port is not None:  # started and emptied first, so cluster.sh adopts it
            _redis_cluster("start", env)
            _flush_cluster(redis_cluster_port)
        started = _cluster("start", env)
        assert started.returncode == 0, started.stdout + started.stderr + _tails()
        yield NGINX
    finally:
        # The services stop first (nothing left using the database), then it is dropped, then
        # the pair the cluster started stops.
        _cluster("stop", {**env, "KEEP_MARIADB_PAIR": "1"})
        _drop(db, db_port)
        if db_replica:
            _cluster("stop", env)
        if redis_cluster_port is not None:
            _redis_cluster("stop", env)


def free_cluster_base() -> int:
    """A base port for scripts/redis_cluster.sh whose six ports and bus ports (+10000) are
    free: 7001 unless another checkout's cluster holds it (never ours to stop)."""
    for base in range(7001, 8000, 100):
        if not any(_taken(p) or _taken(p + 10000) for p in range(base, base + 6)):
            return base
    pytest.skip("no free range of six ports for a Redis Cluster between 7001 and 7999")


def _redis_cluster(action: str, env: dict[str, str]) -> None:
    done = subprocess.run(["bash", "scripts/redis_cluster.sh", action], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def _flush_cluster(base: int) -> None:
    """Empty the Redis Cluster this test just started (its ports were free), which kept an
    earlier run's rooms and events in its data directory: the database is new, so stream ids
    start again and would meet that state. Before any service starts."""
    for port in range(base, base + 6):
        with sync_redis.Redis(port=port, socket_connect_timeout=2) as node:
            if node.info("replication")["role"] == "master":
                node.flushall()


def _drop(db: str, port: int) -> None:
    with contextlib.suppress(pymysql.MySQLError), pymysql.connect(
        host="127.0.0.1", port=port, user="root"
    ) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{db}`")


def api_metrics() -> str:
    """Both API processes' Prometheus text (loopback may read `/metrics`)."""
    return "".join(
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text for port in (8111, 8112))


def gateway_metrics() -> str:
    """The three gateways' Prometheus text."""
    return "".join(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
                   for port in (8101, 8102, 8103))
