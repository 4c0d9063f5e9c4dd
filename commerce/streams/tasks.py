"""Stream tasks: the beat-driven poll that backs up Cloudflare's live-input notifications.

Notifications are authenticated only by a shared header and may be lost; polling every open
stream's live input once a minute bounds how long a missed `connected` (or a broadcast that never
came back) can leave the status wrong.
"""

from __future__ import annotations

from datetime import timedelta

from commerce.context import AppContext
from commerce.streams import service
from commerce.tasks import async_task


@async_task("streams.poll_live_inputs", every=timedelta(seconds=60))
async def poll_live_inputs(ctx: AppContext) -> int:
    return await service.poll_live_inputs(ctx)
