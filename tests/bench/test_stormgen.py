"""The Go join-storm generator (bench/fanout/stormgen) against a real gateway: the benchmark's
10,000-client storm uses it because joinstorm.js needs ~0.45 ms of CPU per client, a whole core
on a 2-core machine, so the storm measured the generator. Its numbers only stand in for
joinstorm.js's if it does and counts the same things:

- 200 guests and 200 signed-in clients all connect, `join` and get an ok ack, and all leave
  again at the end (the room's presence empties);
- a join the gateway refuses (no such stream) or a CONNECT it refuses (bad token) is
  `join_failed`, a server that is not there is `refused`;
- on the same gateway, joinstorm.js and stormgen count the same and word errors the same.

It checks the tool, not speed (no thresholds on time).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from shared.livedata import StreamMeta, put_stream
from shared.redis import make_redis
from shared.tokens import TokenIssuer
from tests.bench.conftest import BENCH, room_empties
from tests.helpers.procs import free_port, run_checked
from tests.realtime.conftest import GatewayFactory

LIVE, MISSING = 4101, 4199
CLIENTS = 200


@pytest.fixture
def gateway_url(service_env: dict[str, str]) -> Iterator[str]:
    with ExitStack() as stack:
        _, url = GatewayFactory(stack, service_env)("storm-gw")
        yield url


@pytest.fixture
async def live_stream(redis_url: str, clean_redis: None) -> AsyncIterator[int]:
    redis = make_redis(redis_url)
    try:
        await put_stream(redis, StreamMeta(id=LIVE, host_id=1, status="live", title="storm"))
        yield LIVE
    finally:
        await redis.aclose()


def tokens_file(tmp_path: Path, tokens: list[str]) -> Path:
    path = tmp_path / f"tokens-{len(tokens)}-{tokens[0][-8:]}.json"
    path.write_text(json.dumps(tokens))
    return path


async def storm(cmd: list[str | Path], url: str, stream_id: int, clients: int,
                *extra: str) -> dict[str, Any]:
    """One storm by `cmd` (stormgen, or node joinstorm.js); its JSON line."""
    done = await asyncio.to_thread(
        run_checked,
        [*cmd, "--url", url, "--stream-id", str(stream_id), "--clients", str(clients),
         "--timeout", "40", *extra],
        cwd=BENCH, timeout=90,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["type"] == "joinstorm" and result["clients"] == clients, result
    return result


def assert_all_joined(result: dict[str, Any], clients: int) -> None:
    assert result["errors"] == [], result
    assert result["joined"] == clients, result
    assert result["refused"] == 0 and result["join_failed"] == 0, result
    ack, total = result["join_ack_ms"], result["connect_join_ms"]
    assert 0 <= ack["p50"] <= ack["p99"] <= ack["max"], result
    # Each client's connect+join spans its join ack, so every order statistic does too.
    assert total["p50"] >= ack["p50"] and total["p99"] >= ack["p99"], result
    assert result["all_joined_s"] > 0, result


async def test_stormgen_joins_and_counts_like_joinstorm(
    stormgen: Path, gateway_url: str, live_stream: int, jwt_keys: tuple[str, str],
    tmp_path: Path,
) -> None:
    go = [stormgen]
    guests = await storm(go, gateway_url, live_stream, CLIENTS, "--concurrency", "50")
    assert_all_joined(guests, CLIENTS)
    assert guests["concurrency"] == 50

    issuer = TokenIssuer(*jwt_keys, issuer="livecommerce", audience="livecommerce", ttl_s=300)
    signed = [issuer.issue_access(user_id=5000 + i, role="buyer", name=f"u{i}")[0]
              for i in range(CLIENTS)]
    signed_in = await storm(go, gateway_url, live_stream, CLIENTS,
                            "--token-file", str(tokens_file(tmp_path, signed)))
    assert_all_joined(signed_in, CLIENTS)
    await room_empties(gateway_url, live_stream)

    # The gateway refuses these CONNECTs (the Engine.IO handshake did complete): join_failed.
    forged = await storm(go, gateway_url, live_stream, 20,
                         "--token-file", str(tokens_file(tmp_path, ["not-a-jwt"])))
    assert (forged["joined"], forged["refused"], forged["join_failed"]) == (0, 0, 20), forged
    assert forged["errors"][0].startswith(f"20x {gateway_url}: connect_error "), forged

    # Connected, but the join is refused with {ok: false}: join_failed, the ack in the error.
    missing = await storm(go, gateway_url, MISSING, 30)
    assert (missing["joined"], missing["refused"], missing["join_failed"]) == (0, 0, 30), missing
    assert missing["errors"] == [f'30x {gateway_url}: join: {{"ok":false,"error":'
                                 '{"code":"not_found","message":"no such stream"}}'], missing
    assert missing["join_ack_ms"] == {"p50": None, "p99": None, "max": None}, missing
    assert missing["all_joined_s"] == 0, missing

    # Nobody listening: refused, never reached the Engine.IO handshake.
    nobody = f"http://127.0.0.1:{free_port()}"
    gone = await storm(go, nobody, live_stream, 10)
    assert (gone["joined"], gone["refused"], gone["join_failed"]) == (0, 10, 0), gone
    assert gone["errors"] == [f"10x {nobody}: connect ECONNREFUSED {nobody[7:]}"], gone


async def test_stormgen_and_joinstorm_js_agree(
    stormgen: Path, bench_deps: None, gateway_url: str, live_stream: int,
    jwt_keys: tuple[str, str], tmp_path: Path,
) -> None:
    """The same storms through both generators on one gateway: the same counts, the same
    error summaries (the protocol outcome, not the timings, which differ by design)."""
    issuer = TokenIssuer(*jwt_keys, issuer="livecommerce", audience="livecommerce", ttl_s=300)
    # Every third token forged: the two kinds of client interleave as the storm runs.
    mixed = [issuer.issue_access(user_id=7000 + i, role="buyer", name=f"u{i}")[0]
             if i % 3 else "forged" for i in range(60)]
    cases: list[tuple[int, int, tuple[str, ...]]] = [
        (live_stream, CLIENTS, ()),
        (MISSING, 30, ()),
        (live_stream, 60, ("--token-file", str(tokens_file(tmp_path, mixed)))),
    ]
    counts = ("clients", "concurrency", "joined", "refused", "join_failed", "errors")
    for stream_id, clients, extra in cases:
        by_go = await storm([stormgen], gateway_url, stream_id, clients, *extra)
        by_js = await storm(["node", BENCH / "joinstorm.js"], gateway_url, stream_id, clients,
                            *extra)
        assert {k: by_go[k] for k in counts} == {k: by_js[k] for k in counts}, (by_go, by_js)
        assert list(by_go) == list(by_js), "the same JSON line, field for field"
    assert (by_go["joined"], by_go["join_failed"]) == (40, 20), by_go
    await room_empties(gateway_url, live_stream)
