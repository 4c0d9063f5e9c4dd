"""Domain events -> analytics work: a stream's numbers are frozen shortly after it ends.

Analytics follows the event stream itself (DESIGN's rule: a domain reacts to events, it is not
called by another domain's consumer). The app's consumer (`commerce.app.event_consumer`) hands
each event to this handler and to the notifications' one, so neither domain imports the other's.
"""

from __future__ import annotations

from commerce.analytics import tasks
from commerce.context import AppContext
from commerce.tasks import enqueue
from shared import events as ev

FREEZE_DELAY_S = 2.0


async def handle(ctx: AppContext, event: ev.DomainEvent) -> None:
    """Queue the freeze of an ended stream's numbers (other events: nothing)."""
    if (
        isinstance(event, ev.StreamStatusChanged)
        and event.stream_id is not None
        and event.data.status == "ended"
    ):
        # A moment later, so the room's last reaction and chat windows are counted.
        await enqueue(ctx, tasks.freeze_stream, event.stream_id, countdown=FREEZE_DELAY_S)
