"""`POST /auth/social/{provider}`: log in (or sign up) with LINE, Facebook, Instagram, Google,
Apple or Kapook; answers the same body as `/auth/login`."""

from __future__ import annotations

from fastapi import APIRouter

from commerce.auth.router import login_out
from commerce.auth.schemas import TokenOut, TwoFactorChallengeOut
from commerce.auth.social import service
from commerce.auth.social.base import Provider
from commerce.auth.social.dependencies import SocialRegistryDep
from commerce.auth.social.schemas import SocialLoginIn
from commerce.deps import ClientIP, CtxDep

router = APIRouter(prefix="/auth/social", tags=["auth"])


@router.post(
    "/{provider}",
    response_model=TokenOut | TwoFactorChallengeOut,
    responses={
        401: {"description": "`invalid_social_token`: bad, expired or foreign token or nonce"},
        403: {"description": "`account_disabled`"},
        409: {
            "description": "`email_taken`: an account has this email, provider did not verify it"
        },
        503: {"description": "`provider_not_configured` or `provider_unavailable`"},
    },
)
async def social_login(
    ctx: CtxDep,
    verifiers: SocialRegistryDep,
    provider: Provider,
    body: SocialLoginIn,
    ip: ClientIP,
) -> TokenOut | TwoFactorChallengeOut:
    """Verify the provider's token with the provider, then log in the linked account, link by
    a provider-verified email, or create a buyer account. An account with 2FA on gets the
    challenge of `/auth/login` instead of tokens."""
    return login_out(
        await service.social_login(
            ctx, verifiers, provider=provider, credentials=body.credentials(), client_ip=ip
        )
    )
