"""The same live sale journey through nginx in front of `make cluster` (fixed ports: run under
`flock /tmp/lc-cluster.lock`): pages, API and socket.io all on :8080, two API processes,
three gateway nodes, a MariaDB primary with a read replica, Redis and a real Celery worker."""

from __future__ import annotations

import pytest

from tests.helpers.cluster import api_metrics, running_cluster
from tests.web.browser import ARTIFACTS
from tests.web.journey import live_sale

pytestmark = pytest.mark.timeout(300)


async def test_live_sale_through_nginx_in_front_of_the_cluster(
    redis_url: str, clean_redis: None
) -> None:
    """On the production shape's database: a primary and a read replica (`DB_REPLICA=1`).
    The journey's catalog and stream reads are served by the replica, the host's and buyer's
    own writes read back from the primary, and nothing a person sees differs."""
    with running_cluster(redis_url, db_replica=True) as nginx:
        skipped = await live_sale(nginx, ARTIFACTS, label="cluster")
        metrics = api_metrics()
    assert skipped == [], skipped
    assert _total(metrics, 'db_reads_total{target="replica"}') > 0, metrics
    # Each API process that has checked the replica found it healthy (nginx spreads the reads).
    assert _total(metrics, 'db_replica_healthy{replica="127.0.0.1:3317"}') >= 1, metrics
    assert 'db_replica_healthy{replica="127.0.0.1:3317"} 0.0' not in metrics, metrics


def _total(metrics: str, series: str) -> float:
    """The sum of one series' values over the processes' metrics texts."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith(series + " "))
