"""The signed-in user's own profile.

An access token outlives changes to its account by up to its TTL, so the profile routes load
the account and refuse a token whose user was deleted or disabled meanwhile (401, as if the
token were revoked) rather than answering for an account that no longer exists.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from commerce.auth.models import User
from commerce.context import AppContext
from commerce.db import transaction
from commerce.users.schemas import ProfileUpdate
from shared.errors import Unauthorized


async def get_active_user(session: AsyncSession, *, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("account not found or disabled")
    return user


async def update_profile(ctx: AppContext, *, user_id: int, data: ProfileUpdate) -> User:
    """Apply only the fields sent (notification preferences merge channel by channel). A new
    display name reaches chat with the next access token
    (tokens carry the name the gateway shows), i.e. within one refresh."""
    async with transaction(ctx.sessions) as session:
        user = await get_active_user(session, user_id=user_id)
        for field, value in data.changes().items():
            setattr(user, field, value)
        if prefs := data.prefs_changes():
            # A new dict: the JSON column sees assignment, not in-place mutation.
            user.notification_prefs = {**(user.notification_prefs or {}), **prefs}
    return user
