"""Two-factor authentication: TOTP enrolment, the login's second step, recovery codes, disabling.

Flow (routes under `/api/v1/auth/2fa`, `commerce/auth/twofactor_router.py`):
1. `enroll`: a new secret (pending, replacing any pending one) and its `otpauth://` URI and QR.
2. `confirm` with a code from the app: the credential is enabled and ten recovery codes are
   returned, once (only their digests are stored).
3. Login with a password then answers a short-lived challenge token instead of tokens
   (`begin_challenge`); `complete_challenge` with a TOTP code or a recovery code opens the
   session. A challenge takes `TWO_FACTOR_MAX_ATTEMPTS` codes, then it is gone; it is spent by
   the first success (an atomic Redis DEL decides between two concurrent ones).
4. `disable` needs a fresh TOTP code (not a recovery code, not one used before).

Every accepted TOTP code moves `last_used_step` forward with a conditional UPDATE, so a code
(or an older one) is refused the second time, even by two concurrent requests.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import structlog
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commerce import throttle
from commerce.auth import totp
from commerce.auth.models import RecoveryCode, TotpCredential, User
from commerce.context import AppContext
from commerce.db import transaction, utcnow
from shared import qr
from shared.errors import Conflict, InvalidInput, Unauthorized

log = structlog.get_logger(__name__)

_CHALLENGE_PREFIX = "2fa:challenge:"


class InvalidTwoFactorCode(Unauthorized):
    def __init__(self, message: str = "the code is wrong, expired or already used") -> None:
        super().__init__(message, code="invalid_two_factor_code")


class InvalidChallenge(Unauthorized):
    def __init__(self) -> None:
        super().__init__(
            "the login challenge is invalid, expired or used up; log in again",
            code="invalid_challenge",
        )


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_png: bytes


@dataclass(frozen=True, slots=True)
class Challenge:
    token: str
    expires_in: int


def _key(ctx: AppContext) -> str:
    return ctx.settings.totp_encryption_key.get_secret_value()


async def _throttle(ctx: AppContext, user_id: int) -> None:
    await throttle.enforce(
        ctx.limiter, ctx.settings.rate_limits.two_factor_per_user, "2fa-user", str(user_id)
    )


async def is_enabled(session: AsyncSession, *, user_id: int) -> bool:
    confirmed = await session.scalar(
        select(TotpCredential.confirmed_at).where(TotpCredential.user_id == user_id)
    )
    return confirmed is not None


async def enroll(ctx: AppContext, *, user_id: int) -> Enrolment:
    """Start (or restart) enrolment; 409 `two_factor_enabled` if it is already on."""
    await _throttle(ctx, user_id)
    secret = totp.new_secret()
    async with transaction(ctx.sessions) as session:
        user = await session.get(User, user_id)
        if user is None or not user.is_active:
            raise Unauthorized("account not found")
        current = await session.get(TotpCredential, user_id, with_for_update=True)
        if current is not None and current.confirmed_at is not None:
            raise Conflict("two-factor authentication is already on", code="two_factor_enabled")
        if current is None:
            encrypted = totp.encrypt(secret, key=_key(ctx))
            session.add(TotpCredential(user_id=user_id, secret_enc=encrypted))
        else:
            current.secret_enc = totp.encrypt(secret, key=_key(ctx))
            current.last_used_step = None
        email = user.email
    uri = totp.provisioning_uri(secret, account=email, issuer=ctx.settings.totp_issuer)
    return Enrolment(secret=secret, otpauth_uri=uri, qr_png=qr.render_png(uri, box_size=6))


async def confirm(ctx: AppContext, *, user_id: int, code: str) -> list[str]:
    """Turn a pending enrolment on with a correct code; returns the new recovery codes."""
    await _throttle(ctx, user_id)
    codes = totp.new_recovery_codes()
    async with transaction(ctx.sessions) as session:
        credential = await session.get(TotpCredential, user_id, with_for_update=True)
        if credential is None:
            raise Conflict("start with POST /auth/2fa/enroll", code="two_factor_not_enrolled")
        if credential.confirmed_at is not None:
            raise Conflict("two-factor authentication is already on", code="two_factor_enabled")
        await _spend_totp(ctx, session, credential, code)
        credential.confirmed_at = utcnow()
        await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        session.add_all(
            RecoveryCode(user_id=user_id, code_hash=totp.recovery_hash(c)) for c in codes
        )
    log.info("two_factor_enabled", user_id=user_id)
    return codes


async def disable(ctx: AppContext, *, user_id: int, code: str) -> None:
    """Turn 2FA off; only a fresh TOTP code (never a recovery code) proves the app is at hand."""
    await _throttle(ctx, user_id)
    async with transaction(ctx.sessions) as session:
        credential = await session.get(TotpCredential, user_id, with_for_update=True)
        if credential is None or credential.confirmed_at is None:
            raise Conflict("two-factor authentication is off", code="two_factor_not_enabled")
        await _spend_totp(ctx, session, credential, code)
        await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        await session.delete(credential)
    log.info("two_factor_disabled", user_id=user_id)


async def _spend_totp(
    ctx: AppContext, session: AsyncSession, credential: TotpCredential, code: str
) -> None:
    """Accept `code` once: its step must be newer than the last accepted one (conditional
    UPDATE, so two concurrent uses of one code cannot both pass)."""
    step = totp.matching_step(totp.decrypt(credential.secret_enc, key=_key(ctx)), code)
    if step is None:
        raise InvalidTwoFactorCode()
    moved = await session.execute(
        update(TotpCredential)
        .where(
            TotpCredential.user_id == credential.user_id,
            or_(TotpCredential.last_used_step.is_(None), TotpCredential.last_used_step < step),
        )
        .values(last_used_step=step)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidTwoFactorCode()


async def begin_challenge(ctx: AppContext, *, user_id: int) -> Challenge:
    """A one-use token standing for "password checked" for a short while (kept hashed)."""
    token = secrets.token_urlsafe(32)
    ttl = ctx.settings.two_factor_challenge_ttl_s
    key = _CHALLENGE_PREFIX + hashlib.sha256(token.encode()).hexdigest()
    await ctx.redis.hset(key, mapping={"user_id": str(user_id), "attempts": "0"})
    await ctx.redis.expire(key, ttl)
    return Challenge(token=token, expires_in=ttl)


async def complete_challenge(
    ctx: AppContext, *, token: str, code: str | None, recovery_code: str | None
) -> int:
    """The user id behind a challenge answered with a valid code (the challenge is spent)."""
    key = _CHALLENGE_PREFIX + hashlib.sha256(token.encode()).hexdigest()
    attempts = await ctx.redis.hincrby(key, "attempts", 1)
    raw_user = await ctx.redis.hget(key, "user_id")
    if raw_user is None:  # unknown or expired (HINCRBY made a stray key: drop it)
        await ctx.redis.delete(key)
        raise InvalidChallenge()
    if attempts > ctx.settings.two_factor_max_attempts:
        await ctx.redis.delete(key)
        raise InvalidChallenge()
    user_id = int(raw_user)
    async with transaction(ctx.sessions) as session:
        if code is not None:
            credential = await session.get(TotpCredential, user_id)
            if credential is None or credential.confirmed_at is None:
                raise InvalidChallenge()
            await _spend_totp(ctx, session, credential, code)
        elif recovery_code is not None:
            used = await session.execute(
                update(RecoveryCode)
                .where(
                    RecoveryCode.user_id == user_id,
                    RecoveryCode.code_hash == totp.recovery_hash(recovery_code),
                    RecoveryCode.used_at.is_(None),
                )
                .values(used_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if used.rowcount != 1:  # type: ignore[attr-defined]
                raise InvalidTwoFactorCode("the recovery code is wrong or already used")
            log.info("recovery_code_used", user_id=user_id)
        else:
            raise InvalidInput("send `code` or `recovery_code`")
        if not await ctx.redis.delete(key):  # a concurrent success spent it first
            raise InvalidChallenge()
    return user_id


async def remaining_recovery_codes(session: AsyncSession, *, user_id: int) -> int:
    rows = await session.scalars(
        select(RecoveryCode.id).where(
            RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
        )
    )
    return len(rows.all())
