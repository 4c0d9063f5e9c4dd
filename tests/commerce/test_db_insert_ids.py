"""`db.insert_returning_ids` on real MariaDB and on SQLite: each row gets its own new id, in
the order of the rows given: from one statement where the engine has INSERT ... RETURNING with
rows in order (MariaDB), and from one statement per row where it has not (MySQL 8, simulated by
turning the capability off; SQLite, whose RETURNING order is unspecified).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, event, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from commerce.db import insert_returning_ids


def _table() -> Table:
    return Table(
        f"t_ids_{uuid.uuid4().hex[:8]}",
        MetaData(),
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
               autoincrement=True),
        Column("label", String(40), nullable=False),
    )


@pytest.fixture(params=["mariadb", "sqlite"])
async def engine(request: pytest.FixtureRequest, db_url: str, tmp_path: Path
                 ) -> AsyncIterator[AsyncEngine]:
    url = db_url if request.param == "mariadb" else f"sqlite+aiosqlite:///{tmp_path}/ids.db"
    made = create_async_engine(url)
    yield made
    await made.dispose()


def _count_inserts(engine: AsyncEngine) -> list[str]:
    seen: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            seen.append(statement)

    return seen


@pytest.mark.parametrize("returning", [True, False], ids=["returning", "row-by-row"])
async def test_ids_come_back_in_row_order(
    engine: AsyncEngine, returning: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _table()
    async with engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
    try:
        if not returning:
            monkeypatch.setattr(
                engine.dialect, "insert_executemany_returning_sort_by_parameter_order", False
            )
        assert engine.dialect.insert_executemany_returning_sort_by_parameter_order is returning
        inserts = _count_inserts(engine)
        labels = [f"row-{n}" for n in (5, 1, 4, 2, 3, 9, 7)]
        async with engine.begin() as conn:
            await insert_returning_ids(conn, table, [{"label": "first"}])
            inserts.clear()
            ids = await insert_returning_ids(conn, table, [{"label": x} for x in labels])
        # SQLite's RETURNING promises no row order, so SQLAlchemy sends its rows one by one.
        one_statement = returning and engine.dialect.name != "sqlite"
        assert len(inserts) == (1 if one_statement else len(labels))
        assert len(set(ids)) == len(labels)
        async with engine.connect() as conn:
            stored = dict((await conn.execute(select(table.c.id, table.c.label))).all())
        assert [stored[i] for i in ids] == labels
        assert "first" in stored.values() and min(ids) > min(stored)
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.drop_all)
