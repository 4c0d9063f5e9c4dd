"""Migrations run both ways on a fresh MariaDB database and on SQLite, and match the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from commerce.models import Base
from commerce.preflight import alembic_config
from tests.conftest import create_database, database_url, drop_database


def _sync(url: str) -> str:
    return url.replace("+aiomysql", "+pymysql").replace("+aiosqlite", "")


def _run_both_ways(url: str) -> None:
    cfg = alembic_config(url)
    cfg.attributes["skip_logging"] = True
    command.upgrade(cfg, "head")
    engine = create_engine(_sync(url))
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        assert set(Base.metadata.tables) <= tables
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
    command.downgrade(cfg, "base")
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    command.upgrade(cfg, "head")
    engine.dispose()


def test_mariadb_upgrade_downgrade_upgrade() -> None:
    name = create_database()
    try:
        _run_both_ways(database_url(name))
    finally:
        drop_database(name)


def test_sqlite_upgrade_downgrade_upgrade(tmp_path: Path) -> None:
    _run_both_ways(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")


@pytest.mark.parametrize("name", ["ix_orders_status_expires_at", "uq_users_email"])
def test_naming_convention_applied(db_url: str, name: str) -> None:
    engine = create_engine(_sync(db_url))
    with engine.connect() as conn:
        insp = inspect(conn)
        table = name.split("_")[1]
        names = {i["name"] for i in insp.get_indexes(table)} | {
            u["name"] for u in insp.get_unique_constraints(table)
        }
    engine.dispose()
    assert name in names
