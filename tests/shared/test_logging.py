"""JSON logs keep the formatted stack of every exception, from structlog and stdlib loggers."""

from __future__ import annotations

import json
import subprocess
import sys

# One process per case: configure_logging replaces the root handler and caches structlog.
_SCRIPT = """
import logging, structlog
from shared.logging import configure_logging
configure_logging(level="INFO", json=True, service="t")
def fail_here():
    raise ValueError("boom from fail_here")
try:
    fail_here()
except ValueError:
    {call}
"""


def _log_line(call: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(call=call)],
        capture_output=True, text=True, timeout=30, check=True,
    )
    lines = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    assert len(lines) == 1, out.stderr
    return lines[0]


def test_stdlib_logger_exception_keeps_the_stack() -> None:
    line = _log_line('logging.getLogger("aiohttp.server").exception("Error handling request")')
    assert line["event"] == "Error handling request"
    assert line["logger"] == "aiohttp.server"
    assert "exc_info" not in line
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert "in fail_here" in line["exception"] and "ValueError: boom from fail_here" in line[
        "exception"]


def test_stdlib_exc_info_at_error_level_keeps_the_stack() -> None:
    line = _log_line('logging.getLogger("engineio.server").error("x", exc_info=True)')
    assert "ValueError: boom from fail_here" in line["exception"]


def test_structlog_exception_keeps_the_stack() -> None:
    line = _log_line(
        'structlog.get_logger("realtime").exception("handler_failed", client_event="join")'
    )
    assert line["event"] == "handler_failed" and line["client_event"] == "join"
    assert "in fail_here" in line["exception"]
