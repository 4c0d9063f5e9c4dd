"""The same live sale journey through nginx in front of `make cluster` (fixed ports: run under
`flock /tmp/lc-cluster.lock`): pages, API and socket.io all on :8080, two API processes,
three gateway nodes, MariaDB, Redis and a real Celery worker."""

from __future__ import annotations

import pytest

from tests.helpers.cluster import running_cluster
from tests.web.browser import ARTIFACTS
from tests.web.journey import live_sale

pytestmark = pytest.mark.timeout(300)


async def test_live_sale_through_nginx_in_front_of_the_cluster(
    redis_url: str, clean_redis: None
) -> None:
    with running_cluster(redis_url) as nginx:
        skipped = await live_sale(nginx, ARTIFACTS, label="cluster")
    assert skipped == [], skipped
