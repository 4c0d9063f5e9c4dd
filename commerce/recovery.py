"""What commerce puts back into Redis after the event stream was found to have lost entries.

The outbox relay notices a Redis that lost data (commerce/outbox.py) and requeues the events;
this restores the rest of what the gateway reads from Redis and the database can rebuild: the
stream metadata rooms are checked against (`join`, `resume`). Idempotent: each write puts the
database's current value.
"""

from __future__ import annotations

import structlog

from commerce.context import AppContext
from commerce.streams import service as stream_service

log = structlog.get_logger(__name__)


async def restore_redis_state(ctx: AppContext) -> None:
    streams = await stream_service.restore_live_data(ctx)
    log.warning("redis_state_restored", streams=streams)
