"""`GET /sandbox/mailbox?to=`: what the email and SMS sandboxes sent (development only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from commerce.channels.sandbox import SandboxMailbox
from commerce.deps import CtxDep
from commerce.notifications.schemas import Mailbox, MailboxItem

router = APIRouter()


@router.get("/mailbox", response_model=Mailbox)
async def mailbox(
    ctx: CtxDep,
    to: Annotated[str | None, Query(max_length=254, description="an email address or phone")]
    = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Mailbox:
    """Newest first."""
    box = SandboxMailbox(ctx.redis, size=ctx.settings.channels.sandbox_mailbox_size)
    items = await box.list(to=to, limit=limit)
    return Mailbox(items=[MailboxItem.model_validate(i) for i in items])
