"""The same live sale journey through nginx in front of `make cluster` (fixed ports: run under
`flock /tmp/lc-cluster.lock`): pages, API and socket.io all on :8080, two API processes,
three gateway nodes fanning out over a Redis Cluster, a MariaDB primary with a read replica,
Redis and a real Celery worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis as sync_redis

from tests.helpers.cluster import (
    api_metrics,
    free_cluster_base,
    gateway_metrics,
    running_cluster,
)
from tests.web.browser import ARTIFACTS
from tests.web.journey import live_sale

pytestmark = pytest.mark.timeout(300)


async def test_live_sale_through_nginx_in_front_of_the_cluster(
    redis_url: str, clean_redis: None
) -> None:
    """On the production shape (`make cluster DB_REPLICA=1 REDIS_CLUSTER=1`): a database
    primary with a read replica, and all Redis data and the gateways' room fan-out on the
    six-process Redis Cluster. The journey's catalog and stream reads are served by the
    replica, the host's and buyer's own writes read back from the primary, room events cross
    the cluster's shards between the gateways, and nothing a person sees differs."""
    base = free_cluster_base()
    with running_cluster(redis_url, db_replica=True, redis_cluster_port=base) as nginx:
        published = _spublished(base)
        skipped = await live_sale(nginx, ARTIFACTS, label="cluster")
        metrics = api_metrics()
        gateways = gateway_metrics()
        published = _spublished(base) - published
        keys = sum(_nodes(base, lambda node: int(node.dbsize())))
    assert skipped == [], skipped
    assert keys > 0  # the platform's Redis data lives on the cluster (REDIS_URL)
    # Room events went between the gateways over the cluster's shards.
    assert published > 0
    assert _total(gateways, 'gateway_pubsub_messages_received_total{channel="room"}') > 0, gateways
    assert _total(metrics, 'db_reads_total{target="replica"}') > 0, metrics
    # Each API process that has checked the replica found it healthy (nginx spreads the reads).
    assert _total(metrics, 'db_replica_healthy{replica="127.0.0.1:3317"}') >= 1, metrics
    assert 'db_replica_healthy{replica="127.0.0.1:3317"} 0.0' not in metrics, metrics


def _total(metrics: str, series: str) -> float:
    """The sum of one series' values over the processes' metrics texts."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith(series + " "))


def _nodes(base: int, ask: Callable[[sync_redis.Redis], int]) -> Iterator[int]:
    """`ask` of each of the cluster's six nodes."""
    for port in range(base, base + 6):
        with sync_redis.Redis(port=port, socket_connect_timeout=2) as node:
            yield ask(node)


def _spublished(base: int) -> int:
    """SPUBLISH calls the six cluster nodes have served (each room's channel lives on one)."""
    return sum(_nodes(base, lambda node: int(
        node.info("commandstats").get("cmdstat_spublish", {}).get("calls", 0))))
