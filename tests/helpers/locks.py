"""File locks shared with every other test run on this machine (other checkouts, other
engineers): the shared RabbitMQ's queues and a Redis Cluster's fixed ports have one user at a
time. `flock(1)` from a shell takes the same locks (`flock /tmp/lc-rabbit.lock ...`).

A lock is held per test (or per module/session for a cluster), not per pytest run, so the main
pass and the cluster pass of `make test` can run side by side and wait for each other only
where they share something. A parent that already holds a lock around the whole run (`flock
/tmp/lc-rabbit.lock pytest ...`) says so in the environment (`TEST_RABBIT_LOCK_HELD=1`,
`TEST_CLUSTER_LOCK_HELD=1`): flock locks belong to an open file, so the run taking it again
would wait for its own parent forever.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

RABBIT_LOCK = "/tmp/lc-rabbit.lock"
RABBIT_HELD_ENV = "TEST_RABBIT_LOCK_HELD"
CLUSTER_HELD_ENV = "TEST_CLUSTER_LOCK_HELD"


def cluster_lock_path(base: int) -> str:
    """The lock of the six ports from `base`: the historical name for 7001-7006, which shells
    and other checkouts take by name; one of its own for another base."""
    return "/tmp/lc-cluster.lock" if base == 7001 else f"/tmp/lc-cluster-{base}.lock"


@contextlib.contextmanager
def file_lock(path: str, held_env: str) -> Iterator[None]:
    """Hold `path` exclusively (waiting while another run holds it), unless the parent process
    holds it for us (`held_env` is "1"). Released when the file closes, also on a crash."""
    if os.environ.get(held_env) == "1":
        yield
        return
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def rabbit_lock() -> contextlib.AbstractContextManager[None]:
    """The shared broker's queues (amqp://127.0.0.1:5672): a test whose worker consumes them
    would take (and settle) another run's tasks, or lose its own to another run's worker."""
    return file_lock(RABBIT_LOCK, RABBIT_HELD_ENV)


def cluster_lock(base: int) -> contextlib.AbstractContextManager[None]:
    """A Redis Cluster's six fixed ports from `base` (scripts/redis_cluster.sh)."""
    return file_lock(cluster_lock_path(base), CLUSTER_HELD_ENV)
