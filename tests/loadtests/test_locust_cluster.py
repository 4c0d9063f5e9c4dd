"""The Locust smoke through nginx against the production-shaped local cluster (`make cluster`).

The cluster uses fixed ports (nginx 8080, gateways 8101-8103, APIs 8111-8112, Flower 5555):
the test skips, saying why, when any of them is taken (a developer's own `make cluster`), and
stops the cluster in teardown whatever happened. It runs on a fresh database and the test Redis
DB, which also serves as the Celery broker here so the cluster's worker never takes tasks from
other test runs sharing RabbitMQ.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pymysql
import pytest

from loadtests.setup import create_fixture, write_fixture
from tests.helpers.procs import child_env
from tests.loadtests.runner import assert_clean_mixed_run, run_locust

ROOT = Path(__file__).resolve().parents[2]
PORTS = (8080, 8101, 8102, 8103, 8111, 8112, 5555)
NGINX = "http://127.0.0.1:8080"


def _taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _cluster(action: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "scripts/cluster.sh", action], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=150,
    )


@pytest.fixture
def cluster(redis_url: str, clean_redis: None) -> Iterator[None]:
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    taken = [p for p in PORTS if _taken(p)]
    if taken:
        pytest.skip(f"cluster ports {taken} are in use (a running `make cluster`?)")
    db = f"lc_cluster_{uuid.uuid4().hex[:8]}"
    env = child_env({
        "CLUSTER_DATABASE_URL": f"mysql+aiomysql://root@127.0.0.1:3306/{db}",
        "CLUSTER_REDIS_URL": redis_url,
        "CLUSTER_BROKER_URL": redis_url,
        "BCRYPT_ROUNDS": "4",
        "DATABASE_URL": None, "REDIS_URL": None, "CELERY_BROKER_URL": None,
    })
    try:
        started = _cluster("start", env)
        logs = ROOT / "var" / "cluster"
        assert started.returncode == 0, started.stdout + started.stderr + _tails(logs)
        yield
    finally:
        _cluster("stop", env)
        with pymysql.connect(host="127.0.0.1", user="root") as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")


def _tails(logs: Path) -> str:
    return "".join(f"\n--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(logs.glob("*.log")))


async def test_locust_through_nginx_against_the_cluster(cluster: None, tmp_path: Path) -> None:
    fixture = write_fixture(await create_fixture(NGINX, users=30), tmp_path / "fixture.json")

    run = run_locust(host=NGINX, fixture=fixture, workdir=tmp_path, users=30, spawn_rate=15)

    assert_clean_mixed_run(run)
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get("http://127.0.0.1:5555/healthcheck")).text == "OK"
        # WebSocket-only clients are balanced least-connections: the room spans several nodes.
        joins = []
        for port in (8101, 8102, 8103):
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            found = re.search(r'gateway_events_in_total\{event="join",result="ok"\} (\S+)', text)
            joins.append(float(found.group(1)) if found else 0.0)
        assert sum(1 for j in joins if j > 0) >= 2, joins
