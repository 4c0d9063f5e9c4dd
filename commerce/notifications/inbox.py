"""The in-app inbox: the user's notifications newest first, and marking one read."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.context import AppContext
from commerce.db import transaction, utcnow
from commerce.notifications.models import Notification
from shared.errors import NotFound


async def list_inbox(
    session: AsyncSession, *, user_id: int, limit: int, before_id: int | None
) -> list[Notification]:
    query = (
        select(Notification)
        .where(Notification.user_id == user_id, Notification.in_app.is_(True))
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return list((await session.scalars(query)).all())


async def mark_read(ctx: AppContext, *, user_id: int, notification_id: int) -> Notification:
    """Idempotent: reading twice keeps the first `read_at`. Someone else's id is a 404."""
    async with transaction(ctx.sessions) as session:
        await session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.user_id == user_id,
                   Notification.read_at.is_(None))
            .values(read_at=utcnow())
        )
        found = await session.scalar(
            select(Notification).where(Notification.id == notification_id,
                                       Notification.user_id == user_id,
                                       Notification.in_app.is_(True))
        )
    if found is None:
        raise NotFound("notification not found")
    return found
