"""Database engine, sessions and the declarative base shared by every domain's models.

The same models run on MySQL 8 / MariaDB (production, tests) and SQLite (embedded default);
anything engine-specific (locking reads, pragmas) is decided here or behind a helper.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from pymysql.constants import SERVER_STATUS
from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    MetaData,
    Table,
    TypeDecorator,
    event,
    insert,
    text,
)
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import PoolResetState
from sqlalchemy.sql.dml import Insert, ReturningInsert

from shared.settings import BaseAppSettings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT primary keys on MySQL; SQLite only auto-increments INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every engine (MySQL DATETIME has no zone)."""

    impl = DateTime(timezone=False).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(settings: BaseAppSettings) -> AsyncEngine:
    url = settings.database_url
    if settings.is_sqlite:
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)  # var/ on a fresh clone
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return make_mysql_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        connect_timeout_s=settings.database_connect_timeout_s,
    )


def make_mysql_engine(
    url: str, *, pool_size: int, max_overflow: int, connect_timeout_s: float
) -> AsyncEngine:
    """An engine on MySQL/MariaDB: the primary's (`make_engine`) and each read replica's."""
    # READ COMMITTED: correctness here comes from conditional UPDATEs, row locks and unique
    # keys, not from snapshot reads, and REPEATABLE READ's next-key locks deadlock hot inserts:
    # outbox rows against the relay's locking read, and a product's search-gram postings
    # against a neighbouring product's (measured: 203 of 300 concurrent product creates).
    engine = create_async_engine(
        url,
        isolation_level="READ COMMITTED",
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_reset_on_return=None,  # `_reset_given_back` instead
        connect_args={"connect_timeout": connect_timeout_s, "charset": "utf8mb4"},
    )
    event.listen(engine.sync_engine, "reset", _reset_given_back)
    return engine


def _reset_given_back(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
    """The pool's reset of a connection given back: ROLLBACK only if a transaction is open.

    SQLAlchemy's default sends a ROLLBACK for every connection given back whose `Connection`
    ended its transaction itself, which is nearly all of them: after each COMMIT, one more round
    trip that does nothing (a checkout group's transaction is about ten; measured in
    BENCHMARKS.md, session 9). The server says in every OK and EOF packet whether a transaction
    is open (SERVER_STATUS_IN_TRANS, which the driver keeps), and after a COMMIT or ROLLBACK the
    last packet is that statement's own answer, so the flag is current: a connection given back
    inside a transaction (a `Connection` that did not end it, the driver used directly) is still
    rolled back, and so is one whose state the driver does not know."""
    if state.terminate_only or not state.asyncio_safe or state.transaction_was_reset:
        return  # being discarded, not ours to touch here, or rolled back by its `Connection`
    status = getattr(getattr(dbapi_connection, "driver_connection", None), "server_status", None)
    if isinstance(status, int) and not status & SERVER_STATUS.SERVER_STATUS_IN_TRANS:
        return
    dbapi_connection.rollback()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session in one transaction: commits on success, rolls back on any exception."""
    async with sessions() as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def insert_returning_ids(
    connection: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """Insert `rows` (same keys each) and return their new ids, in the order of `rows`.

    Through SQLAlchemy's "insertmanyvalues": on MariaDB 10.5+ one multi-row `INSERT ...
    RETURNING id`, ids matched to rows by their auto-increment order within the statement; on
    SQLite, whose RETURNING order is unspecified, SQLAlchemy sends the rows one by one. MySQL 8
    has no RETURNING: one single-row INSERT per row, each reporting its id.
    """
    plain, returning = _insert_statements(table)
    if len(rows) > 1 and connection.dialect.insert_executemany_returning_sort_by_parameter_order:
        result = await connection.execute(returning, list(rows))
        return [int(row_id) for row_id in result.scalars().all()]
    ids = []
    for row in rows:
        inserted = await connection.execute(plain, dict(row))
        ids.append(int(inserted.lastrowid))
    return ids


@functools.cache
def _insert_statements(table: Table) -> tuple[Insert, ReturningInsert[Any]]:
    """A table's INSERT, without and with `RETURNING id`, built once (hot paths use them)."""
    return insert(table), insert(table).returning(table.c.id, sort_by_parameter_order=True)


def insert_ignore(session: AsyncSession, table: Table) -> Insert:
    """INSERT that skips rows colliding with a unique key (MySQL/MariaDB and SQLite): the
    idempotent write of rows whose unique key says they exist once."""
    if session.get_bind().dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    return mysql.insert(table).prefix_with("IGNORE")


def table_of(model: type[Base]) -> Table:
    """A model's `Table`, typed as one, for Core statements on hot paths (no ORM flush)."""
    return cast(Table, model.__table__)
