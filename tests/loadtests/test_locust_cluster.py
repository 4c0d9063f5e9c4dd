"""The Locust smoke through nginx against the production-shaped local cluster (`make cluster`),
with the platform's Redis data on one Redis, and again with it and the gateways' room fan-out
on the six-process Redis Cluster (`make cluster REDIS_CLUSTER=1`).

The cluster uses fixed ports (nginx 8080, gateways 8101-8103, APIs 8111-8112, Flower 5555):
the test skips, saying why, when any of them is taken (a developer's own `make cluster`), and
stops the cluster in teardown whatever happened. It runs on a fresh database and the test Redis
DB, which also serves as the Celery broker here so the cluster's worker never takes tasks from
other test runs sharing RabbitMQ.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis as sync_redis

from loadtests.setup import create_fixture, write_fixture
from tests.helpers.cluster import NGINX, free_cluster_base, gateway_metrics, running_cluster
from tests.loadtests.runner import assert_clean_mixed_run, run_locust

# Starting the whole shape (and, for one variant, the Redis Cluster first) takes 70 s or more
# on a busy 2-core machine: past the suite's default 120 s with the Locust run.
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(params=["redis", "redis-cluster"])
def cluster(
    request: pytest.FixtureRequest, redis_url: str, clean_redis: None
) -> Iterator[int | None]:
    """Yields the Redis Cluster's base port when the data lives there (`REDIS_CLUSTER=1`)."""
    base = free_cluster_base() if request.param == "redis-cluster" else None
    with running_cluster(redis_url, redis_cluster_port=base):
        yield base


async def test_locust_through_nginx_against_the_cluster(
    cluster: int | None, tmp_path: Path
) -> None:
    fixture = write_fixture(await create_fixture(NGINX, users=30), tmp_path / "fixture.json")

    run = run_locust(host=NGINX, fixture=fixture, workdir=tmp_path, users=30, spawn_rate=15)

    assert_clean_mixed_run(run)
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get("http://127.0.0.1:5555/healthcheck")).text == "OK"
        # Flower's Broker page lists the worker's queues with their lengths, read from
        # RabbitMQ's management API (an error there leaves the table empty).
        broker = (await http.get("http://127.0.0.1:5555/broker")).text
        for queue in ("celery", "payments", "media", "notifications"):
            row = re.search(rf'<tr id="{queue}">\s*<td>{queue}</td>\s*<td[^>]*>\s*(\d+)', broker)
            assert row, (queue, broker[:2000])
        # WebSocket-only clients are balanced least-connections: the room spans several nodes.
        joins = []
        for port in (8101, 8102, 8103):
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            found = re.search(r'gateway_events_in_total\{event="join",result="ok"\} (\S+)', text)
            joins.append(float(found.group(1)) if found else 0.0)
        assert sum(1 for j in joins if j > 0) >= 2, joins
    if cluster is not None:
        # The data and the rooms' fan-out were on the Redis Cluster: keys on its nodes, and
        # room traffic reached the gateways on the rooms' sharded channels.
        keys = 0
        for port in range(cluster, cluster + 6):
            with sync_redis.Redis(port=port, socket_connect_timeout=2) as node:
                keys += int(node.dbsize())
        assert keys > 0
        received = [
            float(found.group(1)) for text in gateway_metrics().splitlines()
            if (found := re.match(
                r'gateway_pubsub_messages_received_total\{channel="room"\} (\S+)', text))
        ]
        assert sum(received) > 0, received
