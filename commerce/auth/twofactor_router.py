"""`/auth/2fa`: TOTP enrolment, the login's second step, and disabling (thin routes over
`auth.twofactor` and `auth.service`)."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Response, status

from commerce.auth import service, twofactor
from commerce.auth.router import token_out
from commerce.auth.schemas import (
    RecoveryCodesOut,
    TokenOut,
    TwoFactorCodeIn,
    TwoFactorEnrolmentOut,
    TwoFactorStatusOut,
    TwoFactorVerifyIn,
)
from commerce.deps import CtxDep, CurrentPrincipal, SessionDep

router = APIRouter(prefix="/auth/2fa", tags=["auth"])


@router.get("", response_model=TwoFactorStatusOut)
async def two_factor_status(principal: CurrentPrincipal, session: SessionDep) -> TwoFactorStatusOut:
    """Whether the caller has 2FA on, and how many unused recovery codes are left."""
    return TwoFactorStatusOut(
        enabled=await twofactor.is_enabled(session, user_id=principal.user_id),
        recovery_codes_left=await twofactor.remaining_recovery_codes(
            session, user_id=principal.user_id
        ),
    )


@router.post("/enroll", status_code=status.HTTP_201_CREATED, response_model=TwoFactorEnrolmentOut)
async def enroll(ctx: CtxDep, principal: CurrentPrincipal) -> TwoFactorEnrolmentOut:
    """A new TOTP secret to add to an authenticator app (QR code), pending until confirmed.
    409 `two_factor_enabled` when 2FA is already on."""
    enrolment = await twofactor.enroll(ctx, user_id=principal.user_id)
    return TwoFactorEnrolmentOut(
        secret=enrolment.secret,
        otpauth_uri=enrolment.otpauth_uri,
        qr_png_base64=base64.b64encode(enrolment.qr_png).decode("ascii"),
    )


@router.post("/confirm", response_model=RecoveryCodesOut)
async def confirm(
    ctx: CtxDep, principal: CurrentPrincipal, body: TwoFactorCodeIn
) -> RecoveryCodesOut:
    """Turn 2FA on with a code from the app; answers ten one-time recovery codes, once.
    401 `invalid_two_factor_code`, 409 `two_factor_not_enrolled` / `two_factor_enabled`."""
    codes = await twofactor.confirm(ctx, user_id=principal.user_id, code=body.code)
    return RecoveryCodesOut(recovery_codes=codes)


@router.post("/verify", response_model=TokenOut)
async def verify(ctx: CtxDep, body: TwoFactorVerifyIn) -> TokenOut:
    """The login's second step: the challenge token from `/auth/login` and a TOTP code (or a
    recovery code) give the session's tokens. 401 `invalid_two_factor_code` (the challenge
    takes a few tries) or `invalid_challenge` (expired, used, or out of tries: log in again)."""
    pair = await service.login_second_step(
        ctx, challenge_token=body.challenge_token, code=body.code,
        recovery_code=body.recovery_code,
    )
    return token_out(pair)


@router.post("/disable", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def disable(ctx: CtxDep, principal: CurrentPrincipal, body: TwoFactorCodeIn) -> Response:
    """Turn 2FA off with a fresh code from the app (a recovery code does not do here)."""
    await twofactor.disable(ctx, user_id=principal.user_id, code=body.code)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
