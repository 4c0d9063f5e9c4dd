"""scripts/redis_cluster.sh and the test sessions' use of it (tests/helpers/redis_cluster.py).

A session stops the six servers it started, so nothing is left on the ports for the next run;
a cluster on the ports that another checkout started is refused, never used. Each test runs
its clusters on six free ports of its own (the base port moves all of them), so it needs no
lock and touches no one's cluster.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as sync_redis

from tests.helpers import redis_cluster as servers


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def base() -> Iterator[int]:
    """Six free ports and their cluster bus ports (+10000), below the ephemeral range (32768),
    where outgoing connections could take a bus port between the check and the start."""
    for _ in range(50):
        base = random.randrange(20000, 22700)
        if all(_free(p) and _free(p + 10000) for p in range(base, base + 6)):
            break
    else:
        raise RuntimeError("no six free ports")
    yield base
    for port in range(base, base + 6):  # the data directories (the servers are stopped)
        shutil.rmtree(servers.DATA_DIR / str(port), ignore_errors=True)


def test_a_session_stops_what_it_started(base: int) -> None:
    with servers.session_cluster(base) as url:
        assert url.startswith(f"redis+cluster://127.0.0.1:{base},")
        assert set(servers.status(base).values()) == {"ours"}
        info = sync_redis.Redis(port=base).execute_command("CLUSTER", "INFO")
        assert b"cluster_state:ok" in info
    assert set(servers.status(base).values()) == {"down"}
    assert all(_free(p) for p in range(base, base + 6))


def test_a_running_cluster_of_ours_is_adopted_and_left_running(base: int) -> None:
    servers.start(base)
    try:
        with servers.session_cluster(base):
            pass
        assert set(servers.status(base).values()) == {"ours"}  # it was running before
    finally:
        servers.stop(base)


def test_another_checkouts_cluster_is_refused(base: int, tmp_path: Path) -> None:
    env = {**os.environ, "REDIS_CLUSTER_PORT": str(base), "REDIS_CLUSTER_DIR": str(tmp_path)}
    script = ["bash", str(servers.SCRIPT)]
    try:
        subprocess.run([*script, "start"], env=env, check=True, capture_output=True, timeout=120)
        assert all(s == f"foreign {tmp_path.resolve()}/{p}"
                   for p, s in servers.status(base).items())
        with (pytest.raises(servers.ForeignCluster, match=str(tmp_path)),
              servers.session_cluster(base)):
            pass
        with pytest.raises(servers.ForeignCluster):
            servers.start(base)  # the script itself refuses too
        servers.stop(base)  # ours to stop: none; theirs stays up
        assert set(servers.status(base).values()) != {"down"}
    finally:
        subprocess.run([*script, "stop"], env=env, capture_output=True, timeout=120)
    assert set(servers.status(base).values()) == {"down"}
