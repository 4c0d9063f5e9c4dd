"""Per-socket rate limits on client events, kept in this node's memory (the socket lives here).

chat and react have their own limits in their services (chat's spans nodes, per user). Every
other client event (join, leave, resume, pin, unpin, moderate; unknown names are answered
`invalid` before any handler) counts against `event_rate_limit` per socket and event: each
costs Redis round trips, and a join/leave loop would churn presence and the viewer count.

A moving window of the last hits per socket and event, in plain lists, dropped when the socket
disconnects. It replaced the `limits` library's in-memory moving window, which kept an
`asyncio.Lock` per key and ran an expiry pass over every key it held, handing each one to a
worker thread (`asyncio.to_thread`), again whenever hits kept coming: in a 3,000-client join
storm that was 3.3 % of a gateway's event-loop samples, plus the thread hand-offs (py-spy,
BENCHMARKS.md).
"""

from __future__ import annotations

import time

from limits import parse as parse_limit

OWN_LIMITS = frozenset({"chat", "react"})


class EventThrottle:
    def __init__(self, per_event: str) -> None:
        limit = parse_limit(per_event)
        self.amount = limit.amount
        self.window_s = float(limit.get_expiry())
        # sid -> event -> monotonic times of the hits allowed within the window, oldest first
        self._hits: dict[str, dict[str, list[float]]] = {}

    def allow(self, sid: str, event: str) -> bool:
        """Count a hit unless `amount` were already allowed within the last `window_s`."""
        if event in OWN_LIMITS:
            return True
        now = time.monotonic()
        per_socket = self._hits.get(sid)
        if per_socket is None:
            per_socket = self._hits[sid] = {}
        hits = per_socket.get(event)
        if hits is None:
            per_socket[event] = [now]
            return True
        cutoff = now - self.window_s
        if hits[0] <= cutoff:
            hits[:] = [t for t in hits if t > cutoff]
        if len(hits) >= self.amount:
            return False
        hits.append(now)
        return True

    def forget(self, sid: str) -> None:
        """The socket is gone: its windows go too."""
        self._hits.pop(sid, None)
