"""Bad client input: counted always, logged once per connection, and a limit on it.

A hostile client can send junk as fast as the network carries it. Each connection's first
protocol violation or invalid payload is logged (so an operator sees who and what), every one is
counted (`gateway_bad_input_total{kind}`), and log lines are capped node-wide as well, so a
flood of fresh connections cannot flood the log either. Protocol violations close the connection
at once (realtime/protocol); a connection whose well-formed events keep failing validation is
disconnected once it passes `bad_input_disconnect_after` within `bad_input_window_s`.
"""

from __future__ import annotations

import time

import structlog

from realtime.metrics import BAD_INPUT, BAD_INPUT_DISCONNECTS

log = structlog.get_logger(__name__)

# Node-wide ceiling on "bad_client_input" log lines (the counter keeps counting past it).
LOG_LINES_PER_SECOND = 10


class BadInputGuard:
    """Implements `realtime.protocol.engine.BadInputSink`, keyed by Engine.IO session id."""

    def __init__(self, *, disconnect_after: int, window_s: float) -> None:
        self.disconnect_after = disconnect_after
        self.window_s = window_s
        # eio sid -> [window start (monotonic), count in window]; present once it misbehaved
        self._connections: dict[str, list[float]] = {}
        self._log_second = 0
        self._log_lines = 0

    def report(self, eio_sid: str, kind: str, detail: str) -> bool:
        """Count one bad input; True when the connection is past its limit."""
        BAD_INPUT.labels(kind).inc()
        now = time.monotonic()
        state = self._connections.get(eio_sid)
        if state is None:
            state = self._connections[eio_sid] = [now, 0.0]
            self._log(eio_sid, kind, detail)
        elif now - state[0] > self.window_s:
            state[0], state[1] = now, 0.0
        state[1] += 1
        if state[1] > self.disconnect_after:
            BAD_INPUT_DISCONNECTS.inc()
            return True
        return False

    def forget(self, eio_sid: str) -> None:
        self._connections.pop(eio_sid, None)

    def _log(self, eio_sid: str, kind: str, detail: str) -> None:
        second = int(time.monotonic())
        if second != self._log_second:
            self._log_second, self._log_lines = second, 0
        self._log_lines += 1
        if self._log_lines <= LOG_LINES_PER_SECOND:
            # `detail` is our own description of the fault (a field name at most), never the
            # values the client sent.
            log.warning("bad_client_input", eio_sid=eio_sid, kind=kind, detail=detail[:200])
