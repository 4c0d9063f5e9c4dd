"""The official JavaScript client (`socket.io-client` 4.8 on Node) against a real gateway.

`tests/js/client.mjs` connects with a token, joins, chats, reacts and sends one bad payload,
printing every ack and event as a JSON line; the assertions are here. `npm ci` installs the
locked client into tests/js/node_modules once if it is missing.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.helpers.node import JS_DIR, node_with_modules
from tests.realtime.clients import Client, World
from tests.realtime.conftest import GatewayFactory


@pytest.fixture(scope="session")
def node_client() -> list[str]:
    return [node_with_modules("socket.io-client"), str(JS_DIR / "client.mjs")]


async def run_node(cmd: list[str], *args: str) -> list[dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(
        *cmd, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert lines and lines[-1] == {"kind": "done"}, (lines, err.decode())
    return lines


async def test_js_client_joins_chats_and_receives_room_events(
    gateway_factory: GatewayFactory, world: World, clients: list[Client], node_client: list[str]
) -> None:
    _, url = gateway_factory()
    await world.stream(1)
    py = await Client("py").connect(url, world.token(2, "Py"))
    clients.append(py)
    await py.join(1)

    async def python_side() -> None:
        # Once the JS client has joined (viewers = 2), talk to it.
        await py.wait_for(lambda: any(v["count"] == 2 for v in py.of("viewers")), 10)
        await py.call("chat", {"stream_id": 1, "text": "hello from python"})

    lines, _ = await asyncio.gather(
        run_node(node_client, url, world.token(1, "Js"), "1", "สวัสดี from node", "8000"),
        python_side(),
    )
    acks = {line["event"]: line["ack"] for line in lines if line["kind"] == "ack"
            and line["event"] != "chat"}
    chat_acks = [line["ack"] for line in lines if line["kind"] == "ack"
                 and line["event"] == "chat"]
    assert lines[0] == {"kind": "connect"}
    assert acks["join"]["ok"] is True and acks["join"]["pinned"] is None
    assert acks["join"]["viewers"] == 2 and acks["join"]["recent_messages"] == []
    assert chat_acks[0]["ok"] is True and isinstance(chat_acks[0]["id"], str)
    assert chat_acks[1]["ok"] is False and chat_acks[1]["error"]["code"] == "invalid"
    assert acks["react"] == {"ok": True}

    events = [(line["event"], line["data"]) for line in lines if line["kind"] == "event"]
    chats = [d for e, d in events if e == "chat"]
    assert [c["text"] for c in chats] == ["สวัสดี from node", "hello from python"]
    assert chats[0]["user"] == {"id": 1, "name": "Js"} and chats[0]["stream_id"] == 1
    assert chats[0]["seq"] < chats[1]["seq"]
    assert any(e == "reactions" and d["counts"] == {"heart": 1} for e, d in events)
    # The Python client saw the JS client's message too.
    assert "สวัสดี from node" in [m["text"] for m in py.chats(1)]


async def test_js_client_gets_connect_error_code(
    gateway_factory: GatewayFactory, node_client: list[str]
) -> None:
    _, url = gateway_factory()
    lines = await run_node(node_client, url, "garbage-token", "1", "x", "0")
    assert lines[0]["kind"] == "connect_error"
    assert lines[0]["data"]["code"] == "unauthorized"
