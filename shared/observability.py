"""Error reporting: Sentry, switched on by `SENTRY_DSN` and off (a no-op) without it.

One helper for every process (API, gateway, Celery worker and beat) so they all tag events the
same way: `environment` = APP_ENV, `release` = the installed package version (or `RELEASE`
when the deploy sets one), `server_name` = the process's service name. Personal data stays out
(`send_default_pii=False`): no cookies, auth headers, user IPs or request bodies are sent —
tokens and addresses must never leave for a third party. Structured logs remain the primary
record; Sentry groups exceptions and alerts on new ones.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import sentry_sdk
import structlog

from shared.settings import BaseAppSettings

log = structlog.get_logger(__name__)


def release(settings: BaseAppSettings) -> str:
    """`RELEASE` from the deployment (e.g. the image tag), else the package version."""
    if settings.release:
        return settings.release
    try:
        return f"livecommerce@{version('livecommerce')}"
    except PackageNotFoundError:
        return "livecommerce@unknown"


def init_sentry(
    settings: BaseAppSettings, *, service: str, traces_sample_rate: float = 0.0
) -> bool:
    """Start Sentry when a DSN is configured; returns whether it did.

    The framework integrations (FastAPI/Starlette, aiohttp, Celery, logging) are enabled by
    sentry-sdk's auto-detection once it is initialised; tracing stays off unless asked for,
    because at our socket event rates a sampled transaction per event is itself a load.
    """
    if settings.sentry_dsn is None or not settings.sentry_dsn.get_secret_value():
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.app_env,
        release=release(settings),
        server_name=service,
        send_default_pii=False,
        traces_sample_rate=traces_sample_rate,
    )
    sentry_sdk.set_tag("service", service)
    log.info("sentry_enabled", service=service, environment=settings.app_env)
    return True
