"""Start-up checks: the database is reachable and migrated, Redis answers.

Run before the server starts so a bad `DATABASE_URL` is one line, not a traceback per worker.
"""

from __future__ import annotations

import structlog
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from commerce.db import make_engine
from shared.cli import check_redis, safe_url, short, with_timeout
from shared.errors import ConfigError
from shared.settings import ROOT, BaseAppSettings

log = structlog.get_logger(__name__)


def alembic_config(database_url: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if database_url:
        cfg.attributes["database_url"] = database_url
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def check_database(settings: BaseAppSettings) -> None:
    engine = make_engine(settings)
    where = safe_url(settings.database_url)
    try:
        async with engine.connect() as conn:
            await with_timeout(
                f"cannot reach database at {where}",
                conn.execute(text("SELECT 1")),
                settings.database_connect_timeout_s + 1,
            )
            try:
                current = (
                    await conn.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar()
            except Exception:
                current = None
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"cannot reach database at {where}: {short(exc)}") from None
    finally:
        await engine.dispose()
    head = head_revision()
    if current != head:
        raise ConfigError(
            f"database at {where} is at migration {current or 'none'}, code expects {head}: "
            "run `alembic upgrade head` (make migrate)"
        )


async def preflight(settings: BaseAppSettings, *, redis_optional: bool = False) -> None:
    """`redis_optional`: an unreachable Redis is logged, not fatal. The API starts without it
    (checkout sells from the database, `/readyz` reports Redis down, and every Redis user
    retries until it answers: commerce/orders/checkout/degraded.py), so a Redis outage during
    a deploy or a node's restart does not keep API processes from starting."""
    await check_database(settings)
    unreachable = await check_redis(settings.redis_url, unreachable_ok=redis_optional)
    if unreachable:
        log.warning("redis_unreachable_at_start", error=unreachable)
