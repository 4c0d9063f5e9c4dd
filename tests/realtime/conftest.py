"""Gateway processes on free ports against the real Redis, and socket.io clients for them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from tests.helpers.procs import Proc, free_port, spawn, wait_http

GatewayFactory = Callable[..., tuple[Proc, str]]


@pytest.fixture
def gateway_factory(service_env: dict[str, str]) -> Iterator[GatewayFactory]:
    """Start gateway nodes (`python -m realtime --port N`); all are stopped after the test."""
    with ExitStack() as stack:

        def start(name: str = "gateway", **env: str) -> tuple[Proc, str]:
            port = free_port()
            proc = stack.enter_context(
                spawn(
                    [sys.executable, "-m", "realtime", "--port", str(port), "--node-id", name],
                    name=name,
                    env={**service_env, **env},
                )
            )
            url = f"http://127.0.0.1:{port}"
            wait_http(f"{url}/healthz", proc=proc, timeout=30)
            return proc, url

        yield start


@pytest.fixture
def gateway(gateway_factory: GatewayFactory) -> tuple[Proc, str]:
    return gateway_factory()
