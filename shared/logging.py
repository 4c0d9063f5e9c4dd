"""Structured logs: JSON lines with the request id bound per request (structlog contextvars).

Secrets never reach a log line through here: callers log ids and codes, and `_redact` masks
the usual suspects in case a dict slips through.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_SENSITIVE = {"password", "token", "access_token", "refresh_token", "secret", "authorization",
              "hash_key", "hash_iv", "api_key", "id_token", "code"}


def _redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in list(event):
        if key.lower() in _SENSITIVE:
            event[key] = "***"
    return event


def configure_logging(*, level: str = "INFO", json: bool = True, service: str = "app") -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Route stdlib logging (uvicorn, aiohttp, engineio, celery, sqlalchemy) through the same
    # renderer. ProcessorFormatter hands a record's `exc_info` over as the live exception tuple;
    # `format_exc_info` must turn it into the formatted stack (`exception`) before the JSON
    # renderer, which would otherwise print "<traceback object at 0x…>".
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "engineio.server", "socketio.server"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
