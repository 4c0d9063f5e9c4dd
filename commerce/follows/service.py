"""Follow and unfollow sellers; page through a seller's followers for the going-live fan-out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.auth.models import User
from commerce.context import AppContext
from commerce.db import insert_ignore, table_of, transaction, utcnow
from commerce.follows.models import Follow
from shared.errors import InvalidInput, NotFound

FOLLOWS = table_of(Follow)


async def follow(ctx: AppContext, *, follower_id: int, seller_id: int) -> None:
    """Idempotent: following twice is one follow."""
    if follower_id == seller_id:
        raise InvalidInput("you cannot follow yourself", code="cannot_follow_self")
    async with transaction(ctx.sessions) as session:
        seller = await session.get(User, seller_id)
        if seller is None or not seller.is_active or seller.role not in ("seller", "admin"):
            raise NotFound("seller not found")
        await session.execute(
            insert_ignore(session, FOLLOWS),
            [{"follower_id": follower_id, "seller_id": seller_id, "created_at": utcnow()}],
        )


async def unfollow(ctx: AppContext, *, follower_id: int, seller_id: int) -> None:
    """Idempotent: unfollowing a seller one does not follow changes nothing."""
    async with transaction(ctx.sessions) as session:
        await session.execute(
            delete(Follow).where(Follow.follower_id == follower_id, Follow.seller_id == seller_id)
        )


async def following(
    session: AsyncSession, *, follower_id: int, limit: int, after: tuple[datetime, int] | None
) -> list[tuple[User, datetime]]:
    """Sellers the user follows, newest follow first (keyset on (created_at, seller id))."""
    query = (
        select(User, Follow.created_at)
        .join(Follow, Follow.seller_id == User.id)
        .where(Follow.follower_id == follower_id)
        .order_by(Follow.created_at.desc(), Follow.seller_id.desc())
        .limit(limit)
    )
    if after is not None:
        at, seller_id = after
        query = query.where(
            (Follow.created_at < at) | ((Follow.created_at == at) & (Follow.seller_id < seller_id))
        )
    return [(user, created) for user, created in (await session.execute(query)).tuples().all()]


async def follower_page(
    session: AsyncSession, *, seller_id: int, after_id: int, limit: int
) -> Sequence[int]:
    result = await session.scalars(
        select(Follow.follower_id)
        .where(Follow.seller_id == seller_id, Follow.follower_id > after_id)
        .order_by(Follow.follower_id)
        .limit(limit)
    )
    return result.all()


async def followers_between(
    session: AsyncSession, *, seller_id: int, first_id: int, last_id: int
) -> Sequence[int]:
    result = await session.scalars(
        select(Follow.follower_id).where(
            Follow.seller_id == seller_id,
            Follow.follower_id >= first_id,
            Follow.follower_id <= last_id,
        )
    )
    return result.all()
