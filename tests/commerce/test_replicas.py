"""Read replicas on a real MariaDB replica: a private primary and replica pair (two `mariadbd`
processes with GTID replication, tests/helpers/private_servers.py), the API in-process on it.

What is proved, and how:
- catalog and stream reads are served by the replica: a row changed on the replica alone is
  what an anonymous reader gets, while the seller who just wrote it reads the primary's;
- a buyer's order right after checkout comes from the primary, even while the replica trails
  the primary by an hour (`MASTER_DELAY`) and is allowed to;
- a replica lagging past `DATABASE_REPLICA_MAX_LAG_S`, or whose replication stopped, is
  skipped (the reader gets what only the primary has);
- a replica whose SQL thread stopped is skipped at the next health check (its lag is NULL);
- killing the replica changes nothing a client sees: the same answers, from the primary; and
  stopping it (SIGKILL or a clean shutdown) while a stream of concurrent reads is blocked in
  queries on it: every read still answers 200 with the same body, run again on the primary;
- the seller's CSV report reads every page from one server at one instant, even when the
  replica turns unhealthy, and changes under it, between pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pymysql
import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from commerce import metrics
from commerce.analytics import report
from commerce.context import AppContext
from commerce.replicas import FreshWrites, judge
from shared.settings import CommerceSettings
from tests.commerce.orders.helpers import order_body
from tests.conftest import app_client, built_ctx, migrate
from tests.helpers.private_servers import ReplicaPair, replica_pair

pytestmark = pytest.mark.timeout(180)

DB = "lc"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaPair]:
    with replica_pair(tmp_path_factory.mktemp("replica-pair")) as servers:
        servers.primary.execute(
            f"CREATE DATABASE {DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        migrate(servers.primary.url(DB))
        servers.sync()
        yield servers


@pytest.fixture
def replica_settings(
    commerce_settings: CommerceSettings, pair: ReplicaPair, clean_redis: None
) -> CommerceSettings:
    return commerce_settings.model_copy(update={
        "database_url": pair.primary.url(DB),
        "database_replica_urls": [pair.replica.url(DB)],
        "database_replica_max_lag_s": 2.0,
        "database_replica_check_interval_s": 0.2,
        "database_replica_connect_timeout_s": 1.0,
        # Long enough that the seller's reads in one test stay on the primary however slow
        # the machine is; the settings' rule (longer than the lag bound) still holds.
        "database_replica_fresh_writes_s": 120.0,
    })


@contextlib.asynccontextmanager
async def _api(settings: CommerceSettings) -> AsyncIterator[tuple[AppContext, httpx.AsyncClient]]:
    async with built_ctx(settings) as ctx, app_client(settings, ctx) as api:
        yield ctx, api


@pytest.fixture
async def stack(
    replica_settings: CommerceSettings,
) -> AsyncIterator[tuple[AppContext, httpx.AsyncClient]]:
    async with _api(replica_settings) as both:
        yield both


async def _register(api: httpx.AsyncClient, role: str) -> dict[str, str]:
    n = time.monotonic_ns()
    reply = await api.post("/api/v1/auth/register", json={
        "email": f"{role}{n}@example.test", "password": "Live-sale-2026!",
        "display_name": f"{role} {n % 1000}", "role": role})
    assert reply.status_code == 201, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


async def _product(api: httpx.AsyncClient, seller: dict[str, str], name: str) -> int:
    reply = await api.post("/api/v1/products", headers=seller, json={
        "name": name, "price": "120.00", "currency": "TWD", "stock": 5})
    assert reply.status_code == 201, reply.text
    return int(reply.json()["id"])


def _set_delay(pair: ReplicaPair, seconds: int) -> None:
    """Make the replica trail the primary by `seconds` (MariaDB's delayed replication)."""
    pair.replica.execute(f"STOP SLAVE; CHANGE MASTER TO MASTER_DELAY={seconds}; START SLAVE")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = pair.status() or {}
        if status.get("Slave_IO_Running") == status.get("Slave_SQL_Running") == "Yes":
            return
        time.sleep(0.05)
    raise TimeoutError(f"replication did not restart: {pair.status()}")


@pytest.fixture
def delayed(pair: ReplicaPair) -> Iterator[ReplicaPair]:
    """The replica an hour behind the primary for one test, then caught up again."""
    _set_delay(pair, 3600)
    try:
        yield pair
    finally:
        _set_delay(pair, 0)
        pair.sync()


async def test_catalog_and_stream_reads_are_served_by_the_replica(
    stack: tuple[AppContext, httpx.AsyncClient], pair: ReplicaPair
) -> None:
    ctx, api = stack
    seller = await _register(api, "seller")
    product_id = await _product(api, seller, "藍牙耳機 primary")
    stream = await api.post("/api/v1/streams", headers=seller,
                            json={"title": "primary title", "product_ids": [product_id]})
    assert stream.status_code == 201, stream.text
    stream_id = stream.json()["id"]
    pair.sync()
    # Only the replica says so (the replica writes no binary log: nothing goes back).
    pair.replica.query(
        f"UPDATE products SET name = '藍牙耳機 replica' WHERE id = {product_id}", DB)
    pair.replica.query(f"UPDATE streams SET title = 'replica title' WHERE id = {stream_id}", DB)

    assert (await api.get(f"/api/v1/products/{product_id}")).json()["name"] == "藍牙耳機 replica"
    listed = await api.get("/api/v1/products", params={"seller_id": _seller_id(ctx, seller)})
    assert [p["name"] for p in listed.json()["items"]] == ["藍牙耳機 replica"]
    assert (await api.get(f"/api/v1/streams/{stream_id}")).json()["title"] == "replica title"
    streams = (await api.get("/api/v1/streams", params={"status": "scheduled"})).json()["items"]
    assert {s["id"]: s["title"] for s in streams}[stream_id] == "replica title"

    # The seller just wrote both: their own reads come from the primary.
    mine = await api.get(f"/api/v1/products/{product_id}", headers=seller)
    assert mine.json()["name"] == "藍牙耳機 primary"
    mine = await api.get(f"/api/v1/streams/{stream_id}", headers=seller)
    assert mine.json()["title"] == "primary title"
    # Someone else signed in has written nothing: the replica serves them.
    other = await _register(api, "buyer")
    theirs = await api.get(f"/api/v1/products/{product_id}", headers=other)
    assert theirs.json()["name"] == "藍牙耳機 replica"


def _seller_id(ctx: AppContext, headers: dict[str, str]) -> int:
    return ctx.tokens.verify_access(headers["Authorization"].split()[1]).user_id


async def test_a_checkout_then_its_order_reads_the_primary_while_the_replica_trails(
    replica_settings: CommerceSettings, delayed: ReplicaPair
) -> None:
    # The replica is an hour behind and allowed to be: it serves every lag-tolerant read.
    settings = replica_settings.model_copy(update={
        "database_replica_max_lag_s": 7200.0, "database_replica_fresh_writes_s": 7300.0})
    async with _api(settings) as (ctx, api):
        seller = await _register(api, "seller")
        buyer = await _register(api, "buyer")
        product_id = await _product(api, seller, "Hot deal")
        seller_id = _seller_id(ctx, seller)
        # The replica serves lists and does not have it yet; its seller reads the primary.
        assert await _listed(api, seller_id) == []
        assert await _listed(api, seller_id, seller) == [product_id]
        # By id, a replica's miss is asked again of the primary: it exists, so it is found.
        misses = _served("primary_after_miss")
        assert (await api.get(f"/api/v1/products/{product_id}")).status_code == 200
        assert _served("primary_after_miss") - misses == 1
        assert (await api.get("/api/v1/products/999999999")).status_code == 404

        placed = await api.post("/api/v1/orders", headers={**buyer, "Idempotency-Key": "k1"},
                                json=order_body((product_id, 2)))
        assert placed.status_code == 201, placed.text
        order = await api.get(f"/api/v1/orders/{placed.json()['id']}", headers=buyer)
        assert order.status_code == 200, order.text
        assert order.json()["status"] == "pending_payment"
        assert [(i["product_id"], i["quantity"]) for i in order.json()["items"]] == [
            (product_id, 2)]
        listed = await api.get("/api/v1/orders", headers=buyer)
        assert [o["id"] for o in listed.json()["items"]] == [placed.json()["id"]]


async def test_a_replica_past_the_lag_bound_or_stopped_is_skipped(
    stack: tuple[AppContext, httpx.AsyncClient], delayed: ReplicaPair
) -> None:
    ctx, api = stack
    seller = await _register(api, "seller")
    product_id = await _product(api, seller, "Only on the primary so far")
    # The replica holds the product's events back; its lag grows past the 2 s bound.
    deadline = time.monotonic() + 30
    while (_lag(delayed) or 0) <= 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (_lag(delayed) or 0) > 2, delayed.status()
    seller_id = _seller_id(ctx, seller)
    # A list (no second try on the primary) shows it: the primary served it.
    assert await _listed(api, seller_id) == [product_id]
    verdict = ctx.reads.replicas[0].verdict
    assert verdict is not None and not verdict.healthy and verdict.reason.startswith("lagging")

    delayed.replica.execute("STOP SLAVE")
    await _until_verdict(ctx, "replication stopped")
    assert await _listed(api, seller_id) == [product_id]


async def _listed(
    api: httpx.AsyncClient, seller_id: int, headers: dict[str, str] | None = None
) -> list[int]:
    reply = await api.get("/api/v1/products", params={"seller_id": seller_id}, headers=headers)
    assert reply.status_code == 200, reply.text
    return [p["id"] for p in reply.json()["items"]]


def _served(target: str) -> float:
    return float(metrics.DB_READS.labels(target)._value.get())


def _lag(pair: ReplicaPair) -> int | None:
    status = pair.status()
    return None if status is None else status["Seconds_Behind_Master"]


async def _nothing(session: AsyncSession) -> None:
    return None


async def _until_verdict(ctx: AppContext, reason: str) -> None:
    """Read until the replica's verdict is `reason` (the check runs at most every 0.2 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        await ctx.reads.read(_nothing)
        await asyncio.sleep(0.05)
        verdict = ctx.reads.replicas[0].verdict
        if verdict is not None and verdict.reason == reason:
            return
    raise AssertionError(f"verdict never became {reason!r}: {ctx.reads.replicas[0].verdict}")


async def test_killing_the_replica_changes_nothing_visible(
    replica_settings: CommerceSettings, pair: ReplicaPair
) -> None:
    # Verdicts last a minute here: a replica that dies between checks must be skipped on the
    # failed connection itself, not by the next health check.
    settings = replica_settings.model_copy(update={
        "database_replica_check_interval_s": 60.0, "database_replica_fresh_writes_s": 65.0})
    async with _api(settings) as (ctx, api):
        seller = await _register(api, "seller")
        product_ids = [await _product(api, seller, f"Kept {n}") for n in range(3)]
        pair.sync()
        served = _served("replica")
        before = await _answers(api, product_ids)
        assert _served("replica") - served == len(product_ids) + 1  # all from the replica
        pair.replica.kill()
        try:
            after = [await _answers(api, product_ids) for _ in range(3)]
            assert after == [before] * 3
            verdict = ctx.reads.replicas[0].verdict
            assert verdict is not None and verdict.reason.startswith("unreachable")
        finally:
            pair.replica.start()
            pair.sync()


async def _answers(
    api: httpx.AsyncClient, product_ids: list[int], q: str = "Kept"
) -> list[tuple[int, Any]]:
    answers = []
    for product_id in product_ids:
        reply = await api.get(f"/api/v1/products/{product_id}")
        answers.append((reply.status_code, reply.json()))
    listed = await api.get("/api/v1/products", params={"q": q})
    answers.append((listed.status_code, sorted(p["id"] for p in listed.json()["items"])))
    return answers


@pytest.mark.parametrize("stop", ["kill", "stop", "freeze"])
async def test_a_replica_dying_under_a_stream_of_reads_changes_nothing_visible(
    replica_settings: CommerceSettings, pair: ReplicaPair, stop: str
) -> None:
    """Readers blocked in queries on the replica when it dies (SIGKILL, or a clean shutdown
    that ends its connections) or hangs (SIGSTOP: its connections stay open, silent) get
    their answer from the primary: every read is 200."""
    settings = replica_settings.model_copy(update={
        # A lag spike on a loaded machine (the replica restarted by the test before) must not
        # send the readers to the primary before the replica dies under them.
        "database_replica_max_lag_s": 60.0, "database_replica_fresh_writes_s": 65.0,
        # Long enough for every reader to queue on a loaded machine, except for the hang,
        # which only the timeout ends: there the first queued reader is enough.
        "database_replica_read_timeout_s": 5.0 if stop == "freeze" else 60.0})
    async with _api(settings) as (ctx, api):
        seller = await _register(api, "seller")
        product_ids = [await _product(api, seller, f"Steady {stop} {n}") for n in range(3)]
        pair.sync()
        await _until_verdict(ctx, "ok")
        expected = await _answers(api, product_ids, q=f"Steady {stop}")
        assert [status for status, _ in expected] == [200] * 4
        failed_over = _served("primary_after_failure")
        replies: list[list[tuple[int, Any]]] = []
        done = asyncio.Event()

        async def reader() -> None:
            while not done.is_set():
                replies.append(await _answers(api, product_ids, q=f"Steady {stop}"))

        readers = [asyncio.create_task(reader()) for _ in range(6)]
        # A write lock on the table the reads need holds every one of them in its query on
        # the replica (waiting for the table's metadata lock), so the replica dies under them.
        locker = pymysql.connect(host="127.0.0.1", port=pair.replica.port, user="root",
                                 database=DB, autocommit=True)
        try:
            with locker.cursor() as cur:
                cur.execute("LOCK TABLES products WRITE")
            held = 1 if stop == "freeze" else len(readers)
            await _until_replica_readers_wait(pair, held)
            before = len(replies)
            {"kill": pair.replica.kill, "stop": pair.replica.stop,
             "freeze": pair.replica.freeze}[stop]()
            while len(replies) < before + 2 * len(readers):  # every reader, twice more
                await asyncio.sleep(0.02)
            done.set()
            await asyncio.gather(*readers)
            assert replies and all(answers == expected for answers in replies)
            assert _served("primary_after_failure") - failed_over >= held
            verdict = ctx.reads.replicas[0].verdict
            assert verdict is not None and verdict.reason.startswith("unreachable")
        finally:
            done.set()
            pair.replica.thaw()
            await asyncio.gather(*readers, return_exceptions=True)
            with contextlib.suppress(pymysql.Error):
                locker.close()
            if not pair.replica.running:
                pair.replica.start()
            pair.sync()


async def _until_replica_readers_wait(pair: ReplicaPair, readers: int) -> None:
    """Wait until `readers` queries on the replica are held by a table lock."""
    waiting = (
        "SELECT COUNT(*) AS n FROM information_schema.processlist "
        f"WHERE db = '{DB}' AND state = 'Waiting for table metadata lock'")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if int(pair.replica.query(waiting)[0]["n"]) >= readers:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the readers never queued on the replica: {pair.replica.query(waiting)}")


async def test_a_replica_whose_sql_thread_stopped_is_skipped_until_it_runs_again(
    stack: tuple[AppContext, httpx.AsyncClient], pair: ReplicaPair
) -> None:
    """The replica still receives the primary's log but applies none of it: its lag is NULL
    (it cannot tell how far behind it is), so it is skipped at the next check (≤ 0.2 s here),
    sooner than the lag bound, and serves again once the thread runs and has caught up."""
    ctx, api = stack
    seller = await _register(api, "seller")
    seller_id = _seller_id(ctx, seller)
    first = await _product(api, seller, "Applied")
    pair.sync()
    pair.replica.execute("STOP SLAVE SQL_THREAD")
    try:
        second = await _product(api, seller, "Received, not applied")
        await _until_verdict(ctx, "replication stopped")
        served = _served("primary_no_replica")
        assert await _listed(api, seller_id) == [second, first]  # anonymous: the primary
        assert _served("primary_no_replica") - served == 1
    finally:
        pair.replica.execute("START SLAVE SQL_THREAD")
        pair.sync()
    await _until_verdict(ctx, "ok")
    served = _served("replica")
    assert await _listed(api, seller_id) == [second, first]
    assert _served("replica") - served == 1


async def test_the_csv_report_reads_every_page_from_one_server_at_one_instant(
    stack: tuple[AppContext, httpx.AsyncClient], pair: ReplicaPair,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five lines, two per page. After the first page the replica stops applying the log
    (the router now sends new reads to the primary) and its rows change: the report's later
    pages still come from the replica, as it was when the first page was read."""
    ctx, api = stack
    monkeypatch.setattr(report, "PAGE", 2)
    seller = await _register(api, "seller")
    seller_id = _seller_id(ctx, seller)
    product_id = await _product(api, seller, "Report line")
    buyer = await _register(api, "buyer")
    for n in range(5):
        placed = await api.post("/api/v1/orders", headers={**buyer, "Idempotency-Key": f"r{n}"},
                                json=order_body((product_id, 1)))
        assert placed.status_code == 201, placed.text
    pair.sync()
    # What only the replica says, and the seller's own reads allowed onto it.
    pair.replica.query(f"UPDATE order_items SET name = 'on the replica' "
                       f"WHERE seller_id = {seller_id}", DB)
    await ctx.redis.delete(FreshWrites.key(seller_id))
    today = datetime.now(UTC).date()
    pages = report.rows_csv(ctx, seller_id=seller_id, period=report.period(today, today))
    try:
        await anext(pages)  # the header
        chunks = [await anext(pages)]
        pair.replica.execute("STOP SLAVE SQL_THREAD")
        await _until_verdict(ctx, "replication stopped")
        pair.replica.query(f"UPDATE order_items SET name = 'changed since' "
                           f"WHERE seller_id = {seller_id}", DB)
        chunks += [chunk async for chunk in pages]
    finally:
        await pages.aclose()
        pair.replica.execute("START SLAVE SQL_THREAD")
        pair.sync()
    rows = list(csv.reader(b"".join(chunks).decode().splitlines()))
    assert len(chunks) == 3 and len(rows) == 5
    assert {row[report.HEADER.index("product_name")] for row in rows} == {"on the replica"}
    line_ids = [row[report.HEADER.index("order_id")] for row in rows]
    assert len(set(line_ids)) == 5


@pytest.mark.parametrize("one_instant", [True, False])
async def test_a_read_in_one_instant_sees_one_snapshot_of_the_replica(
    stack: tuple[AppContext, httpx.AsyncClient], pair: ReplicaPair, one_instant: bool
) -> None:
    """A product renamed on the replica between two statements of one read: with
    `one_instant` both statements see the name from before (without, the second sees the
    new one, which is what a stream's analytics must not do with its orders and sales)."""
    ctx, api = stack
    seller = await _register(api, "seller")
    product_id = await _product(api, seller, "Before")
    pair.sync()
    name = text("SELECT name FROM products WHERE id = :id").bindparams(id=product_id)

    async def twice(session: AsyncSession) -> tuple[str, str]:
        first = (await session.execute(name)).scalar_one()
        pair.replica.query(f"UPDATE products SET name = 'After' WHERE id = {product_id}", DB)
        return first, (await session.execute(name)).scalar_one()

    served = _served("replica")
    seen = await ctx.reads.read(twice, one_instant=one_instant)
    assert _served("replica") - served == 1
    assert seen == (("Before", "Before") if one_instant else ("Before", "After"))


def test_judge_reads_show_replica_status_of_mariadb_and_mysql() -> None:
    running = {"Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes"}
    assert judge({**running, "Seconds_Behind_Master": 1}, max_lag_s=2, now=0).healthy
    assert judge({**running, "Seconds_Behind_Master": 3}, max_lag_s=2, now=0).reason == (
        "lagging 3 s")
    assert judge({**running, "Seconds_Behind_Master": None}, max_lag_s=2, now=0).reason == (
        "replication stopped")
    io_down = {**running, "Slave_IO_Running": "Connecting", "Seconds_Behind_Master": 0}
    assert not judge(io_down, max_lag_s=2, now=0).healthy
    assert judge(None, max_lag_s=2, now=0).reason == "not a replica"
    mysql = {"Replica_IO_Running": "Yes", "Replica_SQL_Running": "Yes"}  # MySQL 8.0.22+
    assert judge({**mysql, "Seconds_Behind_Source": 0}, max_lag_s=2, now=0).healthy
    assert not judge({**mysql, "Seconds_Behind_Source": 5}, max_lag_s=2, now=0).healthy


def test_replica_settings_parse_and_refuse_a_short_fresh_window() -> None:
    settings = CommerceSettings(
        database_replica_urls="mysql+aiomysql://r@10.0.0.2/lc, mysql+aiomysql://r@10.0.0.3/lc",
        _env_file=None)  # type: ignore[call-arg]
    assert settings.database_replica_urls == [
        "mysql+aiomysql://r@10.0.0.2/lc", "mysql+aiomysql://r@10.0.0.3/lc"]
    assert CommerceSettings(_env_file=None).database_replica_urls == []  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="FRESH_WRITES"):
        CommerceSettings(database_replica_urls="mysql+aiomysql://r@h/lc",  # type: ignore[arg-type]
                         database_replica_max_lag_s=10, _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="mysql"):
        CommerceSettings(database_replica_urls="sqlite+aiosqlite:///x.db",  # type: ignore[arg-type]
                         _env_file=None)  # type: ignore[call-arg]
