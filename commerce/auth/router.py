"""`/auth`: sign-up, login, refresh-token rotation, logout (thin routes over `auth.service`)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from commerce.auth import service, twofactor
from commerce.auth.schemas import (
    LoginIn,
    RefreshIn,
    RegisterIn,
    TokenOut,
    TwoFactorChallengeOut,
)
from commerce.deps import ClientIP, CtxDep, CurrentPrincipal
from commerce.users.schemas import UserOut

router = APIRouter(prefix="/auth", tags=["auth"])


def token_out(pair: service.TokenPair) -> TokenOut:
    return TokenOut(
        user=UserOut.of(pair.user),
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )


def login_out(
    outcome: service.TokenPair | twofactor.Challenge,
) -> TokenOut | TwoFactorChallengeOut:
    """A first factor's answer: tokens, or the 2FA challenge (password and social login)."""
    if isinstance(outcome, service.TokenPair):
        return token_out(outcome)
    return TwoFactorChallengeOut(challenge_token=outcome.token, expires_in=outcome.expires_in)


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=TokenOut)
async def register(ctx: CtxDep, body: RegisterIn, ip: ClientIP) -> TokenOut:
    """Create a buyer or seller account and sign in. 422 `weak_password` (reason in details),
    409 `email_taken`, 429 `rate_limited` per address."""
    return token_out(await service.register(ctx, data=body, client_ip=ip))


@router.post("/login", response_model=TokenOut | TwoFactorChallengeOut)
async def login(ctx: CtxDep, body: LoginIn, ip: ClientIP) -> TokenOut | TwoFactorChallengeOut:
    """Start a session. 401 `invalid_credentials` for any failure; 429 `rate_limited` (with
    Retry-After) per address, and per account and address after repeated failures. With 2FA
    on, the answer is `{two_factor_required: true, challenge_token, expires_in}`: send the
    token and a code to `POST /auth/2fa/verify`."""
    return login_out(await service.login(ctx, data=body, client_ip=ip))


@router.post("/refresh", response_model=TokenOut)
async def refresh(ctx: CtxDep, body: RefreshIn) -> TokenOut:
    """Trade a refresh token for a new pair; the old one is spent. Presenting a spent or revoked
    token is 401 `invalid_refresh_token` and ends that whole session."""
    return token_out(await service.refresh_session(ctx, token=body.refresh_token))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def logout(ctx: CtxDep, principal: CurrentPrincipal) -> Response:
    """End this session: the access token and the session's refresh tokens stop working."""
    await service.logout(ctx, principal=principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
