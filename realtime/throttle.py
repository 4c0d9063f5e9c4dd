"""Per-socket rate limits on client events, kept in this node's memory (the socket lives here).

chat and react have their own limits in their services (chat's spans nodes, per user). Every
other event (join, leave, resume, pin, unpin, moderate, and unknown names) counts against
`event_rate_limit` per socket and event: each costs Redis round trips, and a join/leave loop would
churn presence and the viewer count.
"""

from __future__ import annotations

from limits import parse as parse_limit
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

OWN_LIMITS = frozenset({"chat", "react"})


class EventThrottle:
    def __init__(self, per_event: str) -> None:
        self.per_event = parse_limit(per_event)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def allow(self, sid: str, event: str) -> bool:
        if event in OWN_LIMITS:
            return True
        return await self.limiter.hit(self.per_event, event, sid)
