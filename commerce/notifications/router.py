"""`/users/me/notifications`: the caller's in-app inbox (thin routes over `inbox`)."""

from __future__ import annotations

from fastapi import APIRouter

from commerce.deps import CtxDep, CurrentPrincipal, SessionDep
from commerce.notifications import inbox
from commerce.notifications.schemas import NotificationOut
from commerce.pagination import Cursor, Limit, Page, decode_id_cursor, encode_cursor

router = APIRouter(prefix="/users/me/notifications", tags=["notifications"])


@router.get("", response_model=Page[NotificationOut])
async def list_notifications(
    principal: CurrentPrincipal, session: SessionDep, limit: Limit = 20, cursor: Cursor = None
) -> Page[NotificationOut]:
    """Newest first, in the locale the user had when each was written."""
    before = decode_id_cursor(cursor)
    rows = await inbox.list_inbox(
        session, user_id=principal.user_id, limit=limit + 1, before_id=before
    )
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > limit else None
    return Page(items=[NotificationOut.of(n) for n in page], next_cursor=next_cursor)


@router.post("/{notification_id}/read", response_model=NotificationOut)
async def read_notification(
    ctx: CtxDep, principal: CurrentPrincipal, notification_id: int
) -> NotificationOut:
    n = await inbox.mark_read(ctx, user_id=principal.user_id, notification_id=notification_id)
    return NotificationOut.of(n)
