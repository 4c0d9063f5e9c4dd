"""The stream provider's sandbox: a pretend encoder that (dis)connects a live input.

It changes the sandbox live input's state (what `POST /streams/{id}/start` asks about) and then
delivers Cloudflare's own Notifications payload for `live_input.connected` /
`live_input.disconnected`, authenticated as Cloudflare authenticates it (the destination's
secret in `cf-webhook-auth`), to our own `POST /api/v1/webhooks/cloudflare-stream`. The webhook
therefore verifies, de-duplicates and acts on it exactly as on Cloudflare's deliveries: a
connect takes a scheduled stream live by itself.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commerce.live_inputs import LiveInput, LocalLiveInputs
from commerce.streams import service as streams
from commerce.streams.models import Stream
from shared.errors import AppError, Conflict
from shared.tokens import Principal

log = structlog.get_logger(__name__)

WEBHOOK_PATH = "/api/v1/webhooks/cloudflare-stream"
# Posts (headers, body) to our own webhook and returns the HTTP status it answered.
Deliver = Callable[[dict[str, str], bytes], Awaitable[int]]
EncoderState = Literal["connected", "disconnected"]


def live_input_notification(
    input_id: str, event_type: str, *, secret: str, at: datetime | None = None
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a Cloudflare Notifications delivery for a Stream Live Input event
    (developers.cloudflare.com/stream/stream-live/webhooks: `name`, `text`, `data`, `ts`)."""
    updated = (at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    body = orjson.dumps(
        {
            "name": "Live commerce (sandbox)",
            "text": (
                f"Notification type: Stream Live Input\nInput ID: {input_id}\n"
                f"Event type: {event_type}\nUpdated at: {updated}"
            ),
            "data": {
                "notification_name": "Stream Live Input",
                "input_id": input_id,
                "event_type": event_type,
                "updated_at": updated,
            },
            "ts": int(time.time()),
        }
    )
    return {"cf-webhook-auth": secret, "content-type": "application/json"}, body


class EncoderSandbox:
    """Connects and disconnects the sandbox encoder of a stream its caller hosts."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        inputs: LocalLiveInputs,
        notification_secret: str,
        deliver: Deliver,
    ) -> None:
        self._sessions = sessions
        self._inputs = inputs
        self._secret = notification_secret
        self._deliver = deliver

    async def set_encoder(
        self, *, stream_id: int, principal: Principal, connected: bool
    ) -> LiveInput:
        # Read and close before delivering: the webhook writes the same row in its own session.
        async with self._sessions() as session:
            stream = await session.get(Stream, stream_id)
        stream = streams.hosted_by(stream, principal, "connect the encoder of")
        if stream.status == "ended" or not stream.live_input_uid:
            raise Conflict("the stream has ended", code="stream_ended")
        state: EncoderState = "connected" if connected else "disconnected"
        live = await self._inputs.set_state(stream.live_input_uid, state)
        headers, body = live_input_notification(
            live.uid, f"live_input.{state}", secret=self._secret, at=live.state_since
        )
        status = await self._deliver(headers, body)
        if status >= 300:
            log.error("sandbox_stream_webhook_refused", stream_id=stream.id, status=status)
            raise AppError(
                "our own webhook refused the sandbox notification",
                code="sandbox_delivery_failed", status=502, details={"webhook_status": status},
            )
        log.info("sandbox_encoder", stream_id=stream.id, state=state)
        return live
