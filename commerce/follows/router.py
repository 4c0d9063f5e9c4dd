"""`POST/DELETE /sellers/{id}/follow`, `GET /users/me/following` (thin routes)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response

from commerce.deps import CtxDep, CurrentPrincipal, SessionDep
from commerce.follows import service
from commerce.follows.schemas import FollowedSeller
from commerce.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from shared.errors import InvalidInput

router = APIRouter(tags=["follows"])


@router.post("/sellers/{seller_id}/follow", status_code=204, response_class=Response)
async def follow(ctx: CtxDep, principal: CurrentPrincipal, seller_id: int) -> Response:
    """Idempotent; the seller's followers hear when they go live or are about to."""
    await service.follow(ctx, follower_id=principal.user_id, seller_id=seller_id)
    return Response(status_code=204)


@router.delete("/sellers/{seller_id}/follow", status_code=204, response_class=Response)
async def unfollow(ctx: CtxDep, principal: CurrentPrincipal, seller_id: int) -> Response:
    await service.unfollow(ctx, follower_id=principal.user_id, seller_id=seller_id)
    return Response(status_code=204)


@router.get("/users/me/following", response_model=Page[FollowedSeller])
async def following(
    principal: CurrentPrincipal, session: SessionDep, limit: Limit = 20, cursor: Cursor = None
) -> Page[FollowedSeller]:
    key = decode_cursor(cursor, 2)
    after = None
    if key is not None:
        try:
            after = (datetime.fromisoformat(str(key[0])), int(key[1]))
        except ValueError:
            raise InvalidInput("malformed cursor", code="invalid_cursor") from None
    rows = await service.following(
        session, follower_id=principal.user_id, limit=limit + 1, after=after
    )
    page = rows[:limit]
    next_cursor = (
        encode_cursor(page[-1][1].isoformat(), page[-1][0].id) if len(rows) > limit else None
    )
    return Page(
        items=[FollowedSeller(seller_id=u.id, display_name=u.display_name, followed_at=at)
               for u, at in page],
        next_cursor=next_cursor,
    )
