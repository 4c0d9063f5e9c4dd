"""No log call passes `event=`: structlog's methods take the event name as their first
positional argument, so such a call raises TypeError ("got multiple values for argument
'event'") at the moment it logs, usually on an error path. It happened twice: in the socket
handlers' error path (issue 20: the client got no ack) and in the relay's `relay_emit_again`
(the event stayed pending, `test_relay.py` failed 1 run in 8 on the Redis Cluster)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("realtime", "commerce", "shared")
LEVELS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "msg"}


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _event_keyword_calls(tree: ast.AST) -> list[int]:
    """Lines of `<something log-like>.<level>(..., event=...)` calls."""
    lines = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in LEVELS:
            continue
        target = ast.unparse(node.func.value).lower()
        if "log" in target and any(k.arg == "event" for k in node.keywords):
            lines.append(node.lineno)
    return lines


def test_the_scan_finds_such_a_call() -> None:
    assert _event_keyword_calls(ast.parse('log.info("x", event="chat")')) == [1]
    assert _event_keyword_calls(ast.parse('self.log.exception("x", name="chat")')) == []


def test_no_log_call_passes_event() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in _sources()
        for line in _event_keyword_calls(ast.parse(path.read_text(), str(path)))
    ]
    assert len(_sources()) > 100  # the packages were found
    assert found == []
