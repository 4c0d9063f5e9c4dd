"""Test fixtures on the real stack: a fresh MariaDB database migrated to head for the session,
a flushed Redis database per test, real processes where a test needs a server.

Environment knobs (so several runs can share one machine):
- TEST_MYSQL_URL   server URL without a database (default mysql+aiomysql://root@127.0.0.1:3306)
- TEST_REDIS_URL   Redis database the tests may flush (default redis://127.0.0.1:6379/9), or
                   `redis+cluster://127.0.0.1:7001,...`: the private Redis Cluster
                   (scripts/redis_cluster.sh, started for the session and flushed per test;
                   run under `flock /tmp/lc-cluster.lock`), as `make test`'s cluster pass does
- TEST_REDIS_CLUSTER_PORT  the cluster's first port (default 7001)
- TEST_RABBIT_LOCK_HELD=1 / TEST_CLUSTER_LOCK_HELD=1  the parent process holds
                   /tmp/lc-rabbit.lock / the cluster's lock around the whole run, so the tests
                   must not take it again (tests/helpers/locks.py)
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pymysql
import pytest
import redis as sync_redis
from alembic import command
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import make_url

from commerce.app import create_app
from commerce.context import AppContext
from commerce.preflight import alembic_config
from shared.redis import cluster_nodes, is_cluster
from shared.settings import CommerceSettings, GatewaySettings
from shared.tokens import MARK_RESTORED_LUA, generate_key_pair, revocations_run_key
from tests.helpers import locks
from tests.helpers import redis_cluster as cluster_servers
from tests.helpers.procs import add_logs_to_report

MYSQL_SERVER_URL = os.environ.get("TEST_MYSQL_URL", "mysql+aiomysql://root@127.0.0.1:3306")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


# A test of a component that runs only on one Redis (the checkout's one-script fast path, whose
# keys span slots: on a Redis Cluster the checkout runs its checks one by one instead).
single_redis_only = pytest.mark.skipif(
    is_cluster(REDIS_URL), reason="a one-Redis component, not used on a Redis Cluster"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "shared_rabbitmq: the test's worker consumes the machine's shared RabbitMQ queues; it "
        "runs under /tmp/lc-rabbit.lock (tests/helpers/locks.py)",
    )


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """A `shared_rabbitmq` test holds the broker lock from its set-up to its teardown. Taken
    here, outside pytest-timeout's own wrapper (which starts the clock), so waiting for another
    run's test is not counted in this test's timeout."""
    with contextlib.ExitStack() as stack:
        if item.get_closest_marker("shared_rabbitmq"):
            stack.enter_context(locks.rabbit_lock())
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    add_logs_to_report(outcome.get_result())  # type: ignore[attr-defined]


def _mysql_connect(database: str | None = None) -> pymysql.connections.Connection:  # type: ignore[type-arg]
    url = make_url(MYSQL_SERVER_URL)
    return pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        database=database,
        autocommit=True,
        charset="utf8mb4",
    )


def create_database() -> str:
    name = f"lc_test_{uuid.uuid4().hex[:12]}"
    with _mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(
            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    return name


def drop_database(name: str) -> None:
    with _mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def database_url(name: str) -> str:
    return f"{MYSQL_SERVER_URL.rstrip('/')}/{name}"


def migrate(url: str, revision: str = "head") -> None:
    cfg = alembic_config(url)
    cfg.attributes["skip_logging"] = True
    command.upgrade(cfg, revision)


@pytest.fixture(scope="session")
def jwt_keys() -> tuple[str, str]:
    return generate_key_pair()


@pytest.fixture(scope="session")
def db_name() -> Iterator[str]:
    """One fresh database per test session, migrated with `alembic upgrade head`."""
    name = create_database()
    migrate(database_url(name))
    yield name
    drop_database(name)


@pytest.fixture(scope="session")
def db_url(db_name: str) -> str:
    return database_url(db_name)


def _cluster_scope(fixture_name: str, config: pytest.Config) -> str:
    """The cluster pass keeps the cluster for its session; the main pass's cluster-parametrized
    tests (test_sharding.py, test_publish_order.py) hold it one module at a time (see
    `redis_cluster`)."""
    return "session" if is_cluster(REDIS_URL) else "module"


@pytest.fixture(scope=_cluster_scope)
def redis_cluster() -> Iterator[str]:
    """The private six-process Redis Cluster (tests/helpers/redis_cluster.py): for the session
    in the cluster pass; in the main pass for one module. Either way under the lock of its
    ports (`locks.cluster_lock`: waiting while another run holds it; `make test-cluster` takes
    it around the whole pass instead, outside pytest's timeouts), so a run cannot start, flush
    or kill a master of the cluster another run is using, nor find its own refused as foreign."""
    base = cluster_servers.base_port()
    if is_cluster(REDIS_URL):
        base = cluster_nodes(REDIS_URL)[0].port
    with locks.cluster_lock(base), cluster_servers.session_cluster(base) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> str:
    if is_cluster(REDIS_URL):
        request.getfixturevalue("redis_cluster")  # started before anything uses it
    return REDIS_URL


def sync_redis_client(url: str) -> sync_redis.Redis:
    """A blocking client for test set-up: one Redis, or the cluster (typed as one Redis: the
    tests use it for single-key commands, scripts of one slot and FLUSHDB)."""
    if is_cluster(url):
        return sync_redis.RedisCluster(  # type: ignore[return-value]
            startup_nodes=[sync_redis.cluster.ClusterNode(n.host, n.port)
                           for n in cluster_nodes(url)])
    return sync_redis.Redis.from_url(url)


@pytest.fixture(scope="session")
def db_cleaner(db_name: str) -> Iterator[pymysql.connections.Connection]:  # type: ignore[type-arg]
    """The one connection `clean_db` uses for the session: a new connection per test took
    80-160 ms on this machine under load (MariaDB's handshake), more than the cleaning."""
    conn = _mysql_connect(db_name)
    yield conn
    conn.close()


@pytest.fixture
def clean_db(db_cleaner: pymysql.connections.Connection) -> None:  # type: ignore[type-arg]
    """Empty every table (keeping the schema) before the test. Only the tables that have rows,
    found in one query: a DELETE for each of the ~26 tables, most of them empty, took ~12 ms."""
    db_cleaner.ping(reconnect=True)
    with db_cleaner.cursor() as cur:
        cur.execute("SHOW TABLES")
        tables = [row[0] for row in cur.fetchall() if row[0] != "alembic_version"]
        cur.execute(" UNION ALL ".join(
            f"(SELECT '{table}' FROM `{table}` LIMIT 1)" for table in tables))  # fmt: skip
        filled = [row[0] for row in cur.fetchall()]
        if not filled:
            return
        cur.execute("SET FOREIGN_KEY_CHECKS=0")
        for table in filled:
            cur.execute(f"DELETE FROM `{table}`")
        cur.execute("SET FOREIGN_KEY_CHECKS=1")


@pytest.fixture
def clean_redis(redis_url: str) -> Iterator[None]:
    client = sync_redis_client(redis_url)
    if isinstance(client, sync_redis.RedisCluster):
        client.flushdb(target_nodes=sync_redis.RedisCluster.PRIMARIES)
    else:
        client.flushdb()
    # What a running commerce API does within a second on a new Redis (RevocationGuard): mark
    # the token revocations restored, or gateways refuse signed-in connects until then.
    client.eval(MARK_RESTORED_LUA, 1, revocations_run_key())
    yield
    client.close()


@pytest.fixture
def channel() -> str:
    """A socket.io pub/sub channel of this test's own (pub/sub ignores Redis DB numbers)."""
    return f"socketio-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def service_env(
    db_url: str, redis_url: str, jwt_keys: tuple[str, str], channel: str, clean_db: None,
    clean_redis: None,
) -> dict[str, str]:
    """Environment for spawned `python -m commerce` / `python -m realtime` processes."""
    private, public = jwt_keys
    return {
        "APP_ENV": "test",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "JWT_PRIVATE_KEY": private,
        "JWT_PUBLIC_KEY": public,
        "SOCKETIO_CHANNEL": channel,
        "EVENTS_STREAM": f"events-{channel}",
        "LOG_LEVEL": "INFO",
        "BCRYPT_ROUNDS": "4",
    }


@pytest.fixture(scope="session")
def session_commerce_settings(
    db_url: str, redis_url: str, jwt_keys: tuple[str, str]
) -> CommerceSettings:
    """`commerce_settings` without the test's own event stream, read from the environment once:
    building CommerceSettings (a model per concern, each read by pydantic-settings) took
    ~65 ms, and most tests build one. Frozen, so a test cannot change it for the next."""
    private, public = jwt_keys
    return CommerceSettings(
        app_env="test",
        database_url=db_url,
        redis_url=redis_url,
        jwt_private_key=private,  # type: ignore[arg-type]
        jwt_public_key=public,
        bcrypt_rounds=4,
        # Off unless a test is about notifications (tests/commerce/notifications turns it on):
        # every other test's events would otherwise become notification writes.
        notifications={"consumer_enabled": False},
        # Counted in every checkout, but far above what a test places for one buyer unless it
        # is about the cap (tests/commerce/orders/test_orders_caps.py sets its own).
        orders={"max_unpaid_per_buyer": 1000},
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def commerce_settings(
    session_commerce_settings: CommerceSettings, channel: str
) -> CommerceSettings:
    """The session's settings on this test's own event stream (a plain string: no validator
    reads it, so the copy needs none)."""
    return session_commerce_settings.model_copy(update={"events_stream": f"events-{channel}"})


@pytest.fixture
def gateway_settings(
    redis_url: str, jwt_keys: tuple[str, str], channel: str
) -> GatewaySettings:
    return GatewaySettings(
        app_env="test",
        redis_url=redis_url,
        jwt_public_key=jwt_keys[1],
        socketio_channel=channel,
        events_stream=f"events-{channel}",
        _env_file=None,  # type: ignore[call-arg]
    )


@contextlib.asynccontextmanager
async def built_ctx(settings: CommerceSettings) -> AsyncIterator[AppContext]:
    context = AppContext.build(settings)
    try:
        yield context
    finally:
        await context.close()


@contextlib.asynccontextmanager
async def app_client(
    settings: CommerceSettings, ctx: AppContext
) -> AsyncIterator[httpx.AsyncClient]:
    """The commerce API in-process (ASGI transport, lifespan run) and a client for it."""
    app = create_app(settings, ctx=ctx)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


@pytest.fixture
async def ctx(
    commerce_settings: CommerceSettings, clean_db: None, clean_redis: None
) -> AsyncIterator[AppContext]:
    async with built_ctx(commerce_settings) as context:
        yield context


@pytest.fixture
async def api(
    commerce_settings: CommerceSettings, ctx: AppContext
) -> AsyncIterator[httpx.AsyncClient]:
    """The commerce API in-process (ASGI transport, lifespan run) on the real DB and Redis."""
    async with app_client(commerce_settings, ctx) as client:
        yield client
