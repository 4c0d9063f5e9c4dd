"""The private six-process Redis Cluster (scripts/redis_cluster.sh) for a test session.

Ports are fixed (7001-7006 unless `TEST_REDIS_CLUSTER_PORT` moves them), so tests using it run
under `flock /tmp/lc-cluster.lock`. A session stops at its end what it started, so the next
run (from this or another checkout) finds the ports free. A cluster on those ports that this
checkout did not start (another checkout's, left running) is refused with the owner's
directory: using it would mean another run's data and no pid files for the fault tests.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator

from tests.helpers.procs import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "redis_cluster.sh"
DATA_DIR = REPO_ROOT / "var" / "redis-cluster"


def base_port() -> int:
    return int(os.environ.get("TEST_REDIS_CLUSTER_PORT", "7001"))


def cluster_url(base: int | None = None) -> str:
    base = base or base_port()
    return "redis+cluster://" + ",".join(f"127.0.0.1:{base + i}" for i in range(3))


def _script(action: str, base: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_CLUSTER_PORT": str(base)}
    return subprocess.run(["bash", str(SCRIPT), action], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def status(base: int | None = None) -> dict[int, str]:
    """Port -> "ours", "down" or "foreign <its directory>"."""
    out = _script("status", base or base_port()).stdout
    return {int(line.split(" ", 1)[0]): line.split(" ", 1)[1] for line in out.splitlines()}


class ForeignCluster(RuntimeError):
    """The cluster's ports are held by a Redis this checkout did not start."""


def start(base: int | None = None) -> None:
    done = _script("start", base or base_port())
    if done.returncode == 3:
        raise ForeignCluster(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"redis_cluster.sh start failed:\n{done.stdout}{done.stderr}")


def stop(base: int | None = None) -> None:
    _script("stop", base or base_port())


def pid(port: int) -> int:
    """The process id of one of our six (its pid file)."""
    return int((DATA_DIR / str(port) / "redis.pid").read_text())


@contextlib.contextmanager
def session_cluster(base: int | None = None) -> Iterator[str]:
    """Start (or adopt our own running) cluster; stop it at the end if this started any of it.
    Raises `ForeignCluster` when another checkout's servers hold the ports."""
    base = base or base_port()
    before = status(base)
    foreign = {p: s for p, s in before.items() if s.startswith("foreign")}
    if foreign:
        raise ForeignCluster(
            f"Redis Cluster ports held by another checkout: {foreign}; stop it with that "
            "checkout's `scripts/redis_cluster.sh stop` (or set TEST_REDIS_CLUSTER_PORT)"
        )
    started_any = any(s == "down" for s in before.values())
    try:
        start(base)
        yield cluster_url(base)
    finally:
        if started_any:
            stop(base)
