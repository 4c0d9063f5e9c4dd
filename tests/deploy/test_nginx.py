"""The shipped nginx.conf, run by a real nginx in front of a real API and two gateway nodes.

One module-scoped stack: `python -m commerce` and two `python -m realtime` nodes on the embedded
default (SQLite migrated with `alembic upgrade head`, no Redis), and nginx with nginx/nginx.conf
and the local-cluster upstreams file re-pointed at their ports. Two gateway nodes make routing
mistakes visible: a polling session split across nodes fails with "Session ID unknown".
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import socketio

from tests.helpers.nginx import (
    NGINX_DIR,
    access_log,
    nginx_command,
    render_config,
    rewrite_upstreams,
)
from tests.helpers.procs import Proc, free_port, run_checked, spawn, stop_all, wait_http

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Stack:
    url: str
    nginx: Proc
    api_addr: str
    gateway_addrs: list[str]

    def log_entries(self, predicate: Callable[[dict], bool], *, at_least: int = 1) -> list[dict]:
        """Access-log entries matching `predicate`, waiting up to 5 s for `at_least` of them
        (nginx logs a request when it completes, a WebSocket when it closes)."""
        deadline = time.monotonic() + 5
        while True:
            entries = [entry for entry in access_log(self.nginx) if predicate(entry)]
            if len(entries) >= at_least or time.monotonic() > deadline:
                return entries
            time.sleep(0.05)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("nginx-stack")
    env: dict[str, str | None] = {
        "APP_ENV": "test",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 't.db'}",
        # The embedded default: no Redis, no broker (this is about nginx, not about them).
        "REDIS_URL": None,
        "CELERY_BROKER_URL": None,
        "CELERY_RESULT_BACKEND": None,
    }
    run_checked([sys.executable, "-m", "alembic", "upgrade", "head"], env=env)

    api_port, gw1_port, gw2_port, nginx_port = (free_port() for _ in range(4))
    python = sys.executable
    host = ["--host", "127.0.0.1"]
    with (
        spawn([python, "-m", "commerce", *host, "--port", str(api_port)],
              name="commerce", env=env, log_dir=tmp) as api,
        spawn([python, "-m", "realtime", *host, "--port", str(gw1_port), "--node-id", "gw1"],
              name="gateway-1", env=env, log_dir=tmp) as gw1,
        spawn([python, "-m", "realtime", *host, "--port", str(gw2_port), "--node-id", "gw2"],
              name="gateway-2", env=env, log_dir=tmp) as gw2,
    ):  # fmt: skip
        for proc, port in ((api, api_port), (gw1, gw1_port), (gw2, gw2_port)):
            wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc, timeout=60)

        api_addr = f"127.0.0.1:{api_port}"
        gateway_addrs = [f"127.0.0.1:{gw1_port}", f"127.0.0.1:{gw2_port}"]
        conf = render_config(
            tmp / "nginx" / "conf",
            listen_port=nginx_port,
            api_addrs=[api_addr],
            gateway_addrs=gateway_addrs,
        )
        with spawn(nginx_command(tmp / "nginx", conf), name="nginx", log_dir=tmp) as nginx:
            url = f"http://127.0.0.1:{nginx_port}"
            wait_http(f"{url}/healthz", proc=nginx, timeout=15)
            yield Stack(url=url, nginx=nginx, api_addr=api_addr, gateway_addrs=gateway_addrs)
            stop_all(nginx, gw1, gw2, api)


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:
        yield client


def test_compose_upstreams_are_valid_nginx(tmp_path: Path) -> None:
    """The compose variant parses too (its host names swapped for addresses nginx -t resolves)."""
    compose = (NGINX_DIR / "upstreams.compose.conf").read_text()
    local = rewrite_upstreams(
        compose, {"commerce": ["127.0.0.1:1"], "realtime": ["127.0.0.1:2", "127.0.0.1:3"]}
    )
    conf = render_config(
        tmp_path / "conf",
        listen_port=free_port(),
        api_addrs=["127.0.0.1:1"],
        gateway_addrs=["127.0.0.1:2"],
    )
    (conf.parent / "upstreams.conf").write_text(local)
    run_checked([*nginx_command(tmp_path / "prefix", conf), "-t"])


async def test_nginx_healthz(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert GENERATED_ID.match(response.headers["x-request-id"])


@pytest.mark.parametrize("path", ["/healthz/api", "/healthz/realtime"])
async def test_services_healthz_through_nginx(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


async def test_openapi_and_docs_reach_commerce(http: httpx.AsyncClient, stack: Stack) -> None:
    spec = await http.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert spec.status_code == 200
    assert "openapi" in spec.json()
    # gzip_min_length 1024: JSON that size or larger is compressed on the way out.
    compressed = len(spec.content) >= 1024
    assert spec.headers.get("content-encoding") == ("gzip" if compressed else None)

    docs = await http.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()

    redoc = await http.get("/redoc")
    assert redoc.status_code == 200

    [entry] = stack.log_entries(lambda e: e["uri"] == "/docs")
    assert entry["upstream"] == stack.api_addr


async def test_request_id_is_kept_and_forwarded(http: httpx.AsyncClient, stack: Stack) -> None:
    request_id = f"test-{uuid.uuid4()}"
    response = await http.get("/openapi.json", headers={"X-Request-ID": request_id})
    assert response.status_code == 200
    # Exactly one copy comes back, even if the API echoes it.
    assert response.headers.get_list("x-request-id") == [request_id]
    [entry] = stack.log_entries(lambda e: e["request_id"] == request_id)
    assert entry["upstream"] == stack.api_addr
    assert entry["status"] == 200


async def test_malformed_request_id_is_replaced(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz", headers={"X-Request-ID": "no spaces or {braces}"})
    assert GENERATED_ID.match(response.headers["x-request-id"])


@pytest.mark.parametrize("path", ["/metrics", "/readyz", "/nope", "/apiv1"])
async def test_internal_and_unknown_paths_are_not_exposed(
    http: httpx.AsyncClient, path: str
) -> None:
    response = await http.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_api_routes_go_to_commerce(http: httpx.AsyncClient, stack: Stack) -> None:
    response = await http.get("/api/v1/no-such-route")
    assert response.status_code == 404
    [entry] = stack.log_entries(lambda e: e["uri"] == "/api/v1/no-such-route")
    assert entry["upstream"] == stack.api_addr


async def test_large_bodies_are_refused_by_nginx(http: httpx.AsyncClient, stack: Stack) -> None:
    response = await http.post(
        "/api/v1/auth/login",
        content=b"x" * (2 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


# --- socket.io through nginx ---------------------------------------------------------------


async def _connect(stack: Stack, transports: list[str], tag: str) -> socketio.AsyncClient:
    """A guest client; every HTTP request and the WebSocket handshake carry X-Request-ID=tag,
    which finds them in nginx's access log."""
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(
        stack.url,
        transports=transports,
        headers={"X-Request-ID": tag},
        wait_timeout=10,
    )
    assert client.connected
    return client


async def _round_trip(client: socketio.AsyncClient) -> None:
    """An event goes to the gateway and its ack comes back (`call` raises TimeoutError if not).

    What the ack says is the gateway's business (tests/realtime); here any answer will do.
    """
    ack = await client.call("join", {"stream_id": str(uuid.uuid4())}, timeout=10)
    assert ack is None or isinstance(ack, dict)


async def _wait_transport(client: socketio.AsyncClient, name: str) -> None:
    for _ in range(100):
        if client.transport() == name:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"transport stayed {client.transport()!r}, expected {name!r}")


def _socketio_entries(
    stack: Stack, tag: str, *, sid: str | None = None, at_least: int = 1
) -> list[dict]:
    """The client's requests: the handshake carries its X-Request-ID, later ones its `sid`."""

    def mine(entry: dict) -> bool:
        uri = str(entry["uri"])
        return uri.startswith("/socket.io/") and (
            entry["request_id"] == tag or (sid is not None and f"sid={sid}" in uri)
        )

    return stack.log_entries(mine, at_least=at_least)


async def test_socketio_websocket_only(stack: Stack) -> None:
    tag = f"ws-{uuid.uuid4().hex}"
    client = await _connect(stack, ["websocket"], tag)
    try:
        assert client.transport() == "websocket"
        await _round_trip(client)
    finally:
        await client.disconnect()
    [entry] = _socketio_entries(stack, tag, at_least=1)
    assert entry["status"] == 101
    assert entry["upstream"] in stack.gateway_addrs


async def test_socketio_polling_then_upgrade_stays_on_one_node(stack: Stack) -> None:
    tag = f"upgrade-{uuid.uuid4().hex}"
    client = await _connect(stack, ["polling", "websocket"], tag)
    sid = client.eio.sid
    try:
        await _wait_transport(client, "websocket")
        await _round_trip(client)
    finally:
        await client.disconnect()
    entries = _socketio_entries(stack, tag, sid=sid, at_least=2)
    assert any(e["status"] == 101 for e in entries), entries
    assert len({e["upstream"] for e in entries}) == 1, entries
    assert all(e["status"] in (200, 101) for e in entries), entries


async def test_socketio_polling_only_is_sticky(stack: Stack) -> None:
    """Handshake, long-polls and posts of a polling session all reach the node that holds it;
    with two nodes a non-sticky route would fail this within a few requests."""
    tag = f"polling-{uuid.uuid4().hex}"
    client = await _connect(stack, ["polling"], tag)
    sid = client.eio.sid
    try:
        assert client.transport() == "polling"
        for _ in range(5):
            await _round_trip(client)
    finally:
        # A graceful polling disconnect waits for the outstanding long-poll, which the server
        # answers only at its next ping (~20 s, with or without nginx): abort it instead.
        await client.eio.disconnect(abort=True)
    entries = _socketio_entries(stack, tag, sid=sid, at_least=7)
    assert len({e["upstream"] for e in entries}) == 1, entries
    # 499: nginx's record of the long-poll the client abandoned on the way out.
    assert all(e["status"] in (200, 499) for e in entries), entries
    # The handshake, then for each of the five events a post and the poll that got the ack.
    assert sum(e["status"] == 200 for e in entries) >= 6, entries


async def test_websocket_only_clients_spread_over_nodes(stack: Stack) -> None:
    """WebSocket-only connections need no stickiness, so clients sharing one address (here all
    of them) are balanced over every node instead of pinned to one."""
    tags = [f"spread-{i}-{uuid.uuid4().hex}" for i in range(4)]
    clients = await asyncio.gather(*(_connect(stack, ["websocket"], tag) for tag in tags))
    try:
        await asyncio.gather(*(_round_trip(client) for client in clients))
    finally:
        await asyncio.gather(*(client.disconnect() for client in clients))
    upstreams = {_socketio_entries(stack, tag, at_least=1)[0]["upstream"] for tag in tags}
    assert upstreams == set(stack.gateway_addrs)
