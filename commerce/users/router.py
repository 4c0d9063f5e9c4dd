"""`/users/me`: the caller's profile (thin routes over `users.service`)."""

from __future__ import annotations

from fastapi import APIRouter

from commerce.deps import CtxDep, CurrentPrincipal, SessionDep
from commerce.users import service
from commerce.users.schemas import ProfileUpdate, UserOut

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserOut)
async def get_me(principal: CurrentPrincipal, session: SessionDep) -> UserOut:
    """The caller's profile."""
    return UserOut.of(await service.get_active_user(session, user_id=principal.user_id))


@router.patch("/me", response_model=UserOut)
async def update_me(ctx: CtxDep, principal: CurrentPrincipal, body: ProfileUpdate) -> UserOut:
    """Change display name, locale or market (only the fields sent; others are a 422)."""
    user = await service.update_profile(ctx, user_id=principal.user_id, data=body)
    return UserOut.of(user)
