"""Migrations run both ways on a fresh MariaDB database and on SQLite, and match the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from commerce.catalog.search import bigrams, normalise
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


def _seed_at_0001(conn: Connection) -> None:
    """A seller with a product (grams of name and description), and a deleted product."""
    conn.execute(text(
        "INSERT INTO users (id, email, display_name, role, locale, market, email_verified,"
        " is_active, created_at, updated_at) VALUES (1, 's@example.test', 'S', 'seller', 'th',"
        " 'TH', 1, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
    ))
    for pid, name, description, deleted in [
        (1, "หูฟัง Pro", "ดูดี", 0), (2, "Old thing", "gone", 1),
    ]:
        conn.execute(text(
            "INSERT INTO products (id, seller_id, name, description, price_minor, currency, stock,"
            " attributes, images, is_deleted, created_at, updated_at) VALUES (:id, 1, :name,"
            " :description, 100, 'THB', 3, '{}', '[]', :deleted, '2026-01-01 00:00:00',"
            " '2026-01-01 00:00:00')"
        ), {"id": pid, "name": name, "description": description, "deleted": deleted})
    in_name = bigrams(normalise("หูฟัง Pro"))
    for gram in sorted(in_name | bigrams(normalise("ดูดี"))):
        conn.execute(
            text("INSERT INTO product_search_grams (gram, product_id, in_name)"
                 " VALUES (:gram, 1, :in_name)"),
            {"gram": gram, "in_name": gram in in_name},
        )


@pytest.mark.parametrize("engine", ["mariadb", "sqlite"])
def test_0002_backfills_the_search_text_and_its_downgrade_restores_in_name(
    engine: str, tmp_path: Path
) -> None:
    name = create_database() if engine == "mariadb" else ""
    url = database_url(name) if name else f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    try:
        cfg = alembic_config(url)
        cfg.attributes["skip_logging"] = True
        command.upgrade(cfg, "0001")
        sync = create_engine(_sync(url))
        with sync.begin() as conn:
            _seed_at_0001(conn)
            before = set(conn.execute(text(
                "SELECT gram, product_id, in_name FROM product_search_grams")).all())
        command.upgrade(cfg, "0002")
        with sync.connect() as conn:
            rows = conn.execute(text(
                "SELECT product_id, name, description, name_length FROM product_search_text"
            )).all()
        assert [tuple(r) for r in rows] == [(1, "หูฟังpro", "ดูดี", 8)]  # not the deleted one
        command.downgrade(cfg, "0001")
        with sync.connect() as conn:
            after = set(conn.execute(text(
                "SELECT gram, product_id, in_name FROM product_search_grams")).all())
        assert after == before and any(r[2] for r in after) and not all(r[2] for r in after)
        sync.dispose()
    finally:
        if name:
            drop_database(name)


def test_stock_cannot_go_negative_on_mariadb(db_url: str) -> None:
    """The CHECK constraint under the conditional UPDATE (MariaDB enforces it)."""
    sync = create_engine(_sync(db_url))
    try:
        with sync.begin() as conn:
            conn.execute(text(
                "INSERT INTO users (email, display_name, role, locale, market, email_verified,"
                " is_active, created_at, updated_at) VALUES ('ck@example.test', 'S', 'seller',"
                " 'th', 'TH', 1, 1, NOW(6), NOW(6))"
            ))
            seller = conn.execute(text("SELECT LAST_INSERT_ID()")).scalar_one()
            conn.execute(text(
                "INSERT INTO products (seller_id, name, description, price_minor, currency, stock,"
                " attributes, images, is_deleted, created_at, updated_at) VALUES (:s, 'x', '',"
                " 100, 'THB', 1, '{}', '[]', 0, NOW(6), NOW(6))"
            ), {"s": seller})
            product = conn.execute(text("SELECT LAST_INSERT_ID()")).scalar_one()
        with pytest.raises(DBAPIError, match="stock_not_negative"), sync.begin() as conn:
            conn.execute(text("UPDATE products SET stock = stock - 2 WHERE id = :id"),
                         {"id": product})
        with sync.connect() as conn:
            stock = conn.execute(text("SELECT stock FROM products WHERE id = :id"),
                                 {"id": product}).scalar_one()
        assert stock == 1
    finally:
        sync.dispose()
