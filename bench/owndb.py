"""A MariaDB database of a benchmark's own: created, migrated to head, dropped at the end."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pymysql
from alembic import command
from sqlalchemy.engine import make_url

from commerce.preflight import alembic_config


@contextmanager
def own_database(mysql_url: str, prefix: str) -> Iterator[str]:
    """Yield the SQLAlchemy URL of a fresh, migrated database on the server `mysql_url`."""
    server = make_url(mysql_url)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = pymysql.connect(host=server.host or "127.0.0.1", port=server.port or 3306,
                            user=server.username or "root", password=server.password or "")
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        cfg = alembic_config(url)
        cfg.attributes["skip_logging"] = True
        command.upgrade(cfg, "head")
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()
