"""`POST /sandbox/streams/{id}/encoder`: the host's pretend encoder (development only)."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict

from commerce import live_inputs
from commerce.deps import CtxDep, CurrentPrincipal
from commerce.sandbox.stream_encoder import WEBHOOK_PATH, Deliver, EncoderSandbox
from shared.errors import Conflict

router = APIRouter(prefix="/streams")

StreamId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class EncoderIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    connected: bool


class EncoderOut(BaseModel):
    stream_id: int
    live_input_uid: str
    encoder: str


def deliver_to(request: Request) -> Deliver:
    """Deliver to this very application through its ASGI interface: the full middleware and
    webhook route run as for Cloudflare's request, with no network hop (so it works on any
    port, behind nginx or in-process in tests)."""

    async def deliver(headers: dict[str, str], body: bytes) -> int:
        transport = httpx.ASGITransport(app=request.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            response = await client.post(WEBHOOK_PATH, headers=headers, content=body)
        return response.status_code

    return deliver


@router.post(
    "/{stream_id}/encoder",
    response_model=EncoderOut,
    responses={409: {"description": "stream_ended, stream_provider_not_sandbox"}},
)
async def set_encoder(
    stream_id: StreamId,
    body: EncoderIn,
    request: Request,
    ctx: CtxDep,
    principal: CurrentPrincipal,
) -> EncoderOut:
    """Report the host's encoder (dis)connected through Cloudflare's signed notification."""
    inputs = ctx.live_inputs
    if not isinstance(inputs, live_inputs.LocalLiveInputs):
        raise Conflict(
            "streams use Cloudflare here: connect a real encoder to the ingest URL",
            code="stream_provider_not_sandbox",
        )
    sandbox = EncoderSandbox(
        sessions=ctx.sessions,
        inputs=inputs,
        notification_secret=ctx.settings.streams.cloudflare.notification_secret.get_secret_value(),
        deliver=deliver_to(request),
    )
    live = await sandbox.set_encoder(
        stream_id=stream_id, principal=principal, connected=body.connected
    )
    return EncoderOut(stream_id=stream_id, live_input_uid=live.uid, encoder=live.state or "")
