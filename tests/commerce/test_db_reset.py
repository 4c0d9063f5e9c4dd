"""A connection given back to the MariaDB pool (`db.make_mysql_engine`): rolled back when a
transaction is still open on it, and not sent a needless ROLLBACK after its transaction was
committed (SQLAlchemy's default sends one every time: a round trip per transaction). One
pooled connection, so each step checks out the same server connection as the one before."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from commerce.db import make_mysql_engine


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    made = make_mysql_engine(db_url, pool_size=1, max_overflow=0, connect_timeout_s=5)
    yield made
    await made.dispose()


async def _session_rollbacks(connection: AsyncConnection) -> tuple[int, int]:
    """The server connection's id and how many ROLLBACK statements it has run."""
    conn_id = await connection.scalar(text("SELECT CONNECTION_ID()"))
    row = (await connection.execute(text("SHOW SESSION STATUS LIKE 'Com_rollback'"))).one()
    return int(conn_id or 0), int(row[1])


async def test_no_rollback_after_a_commit(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        before = await _session_rollbacks(connection)
    for _ in range(3):
        async with engine.begin() as connection:
            await connection.execute(text("SELECT 1"))
    async with engine.begin() as connection:
        after = await _session_rollbacks(connection)
    assert after == before  # same server connection, and no ROLLBACK ran on it


async def test_a_connection_given_back_inside_a_transaction_is_rolled_back(
    engine: AsyncEngine,
) -> None:
    table = f"t_reset_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE TABLE {table} (id INT PRIMARY KEY) ENGINE=InnoDB"))
    try:
        async with engine.connect() as connection:
            before = await _session_rollbacks(connection)
            await connection.commit()
            # The driver used directly: SQLAlchemy's `Connection` does not know a transaction
            # is open, so only the pool's reset can end it.
            raw = await connection.get_raw_connection()
            await raw.driver_connection.query(f"INSERT INTO {table} VALUES (1)")
            assert raw.driver_connection.get_transaction_status()
        async with engine.begin() as connection:
            # Not rolled back, this would be the same transaction and see its own row, and
            # its commit would keep it.
            seen = await connection.scalar(text(f"SELECT COUNT(*) FROM {table}"))
            after = await _session_rollbacks(connection)
        assert seen == 0
        assert (after[0], after[1] - before[1]) == (before[0], 1)
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP TABLE {table}"))
