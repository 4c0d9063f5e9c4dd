"""Accounts and sessions: register, login, refresh-token rotation, logout.

A session is a refresh-token family (one per login). Access tokens are short-lived ES256 JWTs
that carry the family id (`fam`), so ending a session — logout, or reuse of a spent refresh
token (RFC 9700 §4.14.2: a replayed token means it leaked, so the whole family dies) — refuses
its live access tokens too, through a Redis mark every verifier checks (`shared.tokens`), kept
in the database as well so it survives Redis (`revocations`), and drops its sockets through the
`user.tokens_revoked` event.

Revocation marks are written to Redis before the database change commits: a mark is only ever
set for a session that must end anyway, and it is in place before the outbox event makes the
gateways drop sockets, so a reconnect with the same token is already refused.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commerce import throttle
from commerce.auth import passwords, refresh, revocations, twofactor
from commerce.auth.errors import EmailTaken, InvalidCredentials, InvalidRefreshToken
from commerce.auth.models import User
from commerce.auth.schemas import LoginIn, RegisterIn
from commerce.context import AppContext
from commerce.db import transaction, utcnow
from commerce.outbox import add_event
from shared import events as ev
from shared.tokens import Principal, denylist_key, family_revoked_key

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class TokenPair:
    user: User
    access_token: str
    refresh_token: str
    expires_in: int


def _access(ctx: AppContext, user: User, *, family: str, refresh_token: str) -> TokenPair:
    token, principal = ctx.tokens.issue_access(
        user_id=user.id, role=user.role, name=user.display_name, family=family
    )
    return TokenPair(user, token, refresh_token, principal.expires_at - principal.issued_at)


async def open_session(ctx: AppContext, session: AsyncSession, *, user: User) -> TokenPair:
    """Start a new token family for `user` inside the caller's transaction (login, register,
    social login). The access token is signed now; it is only handed out if the caller commits."""
    family = refresh.new_family()
    token = refresh.issue(
        session, user_id=user.id, family=family, ttl_s=ctx.settings.refresh_token_ttl_s
    )
    return _access(ctx, user, family=family, refresh_token=token)


async def session_or_challenge(
    ctx: AppContext, session: AsyncSession, *, user: User
) -> TokenPair | twofactor.Challenge:
    """After a first factor (password, social login): the session, or, with 2FA on, a
    challenge for the second step (`login_second_step`)."""
    if await twofactor.is_enabled(session, user_id=user.id):
        return await twofactor.begin_challenge(ctx, user_id=user.id)
    return await open_session(ctx, session, user=user)


async def register(ctx: AppContext, *, data: RegisterIn, client_ip: str) -> TokenPair:
    settings = ctx.settings
    await throttle.enforce(ctx.limiter, settings.rate_limits.register_per_ip, "register", client_ip)
    passwords.check_policy(data.password, email=data.email)
    async with ctx.sessions() as session:  # cheap early answer before paying for bcrypt
        if await session.scalar(select(User.id).where(User.email == data.email)) is not None:
            raise EmailTaken()
    password_hash = await passwords.hash_password(data.password, rounds=settings.bcrypt_rounds)
    try:
        async with transaction(ctx.sessions) as session:
            user = User(
                email=data.email,
                password_hash=password_hash,
                display_name=data.display_name,
                role=data.role,
                locale=data.locale or "en",
                market=data.market or "TW",
            )
            session.add(user)
            await session.flush()  # the unique index decides a concurrent double sign-up
            pair = await open_session(ctx, session, user=user)
    except IntegrityError:
        raise EmailTaken() from None
    log.info("user_registered", user_id=pair.user.id, role=pair.user.role)
    return pair


async def login(
    ctx: AppContext, *, data: LoginIn, client_ip: str
) -> TokenPair | twofactor.Challenge:
    """Same error, and the same bcrypt work, for an unknown email, a wrong password, a
    social-only account and a disabled one: the answer never tells which emails exist.

    Throttling (OWASP): every attempt counts against the address; failures count against the
    (account, address) pair, which alone is refused once its budget is used up, so a guesser
    elsewhere cannot lock the owner out. Many failures of one account from everywhere make
    every attempt on it slower (a delay before the check), never impossible; a success clears
    its pair's failures. With 2FA on, a correct password gives a challenge token for the second
    step (`login_second_step`) instead of tokens."""
    settings = ctx.settings
    limiter = ctx.limiter
    await throttle.enforce(limiter, settings.rate_limits.login_per_ip, "login-ip", client_ip)
    account = throttle.account_key(data.email)
    pair_key = f"{account}:{client_ip}"
    pair_limit = settings.rate_limits.login_failures_per_pair
    await throttle.refuse_if_used_up(limiter, pair_limit, "login-fail-pair", pair_key)
    if not await throttle.allowed(
        limiter, settings.rate_limits.login_slow_path_after, "login-fail-account", account
    ):
        log.info("login_slow_path", account=account)
        await asyncio.sleep(settings.rate_limits.login_slow_path_delay_s)
    async with ctx.sessions() as session:
        user = await session.scalar(select(User).where(User.email == data.email))
    stored = user.password_hash if user is not None else None
    rounds = settings.bcrypt_rounds
    if (
        not await passwords.verify_password(data.password, stored, rounds=rounds)
        or user is None
        or not user.is_active
    ):
        await asyncio.gather(
            throttle.count(limiter, pair_limit, "login-fail-pair", pair_key),
            throttle.count(
                limiter, settings.rate_limits.login_slow_path_after, "login-fail-account", account
            ),
        )
        raise InvalidCredentials()
    assert stored is not None
    await throttle.reset(limiter, pair_limit, "login-fail-pair", pair_key)
    new_hash = None
    if passwords.needs_rehash(stored, rounds=rounds):  # the cost was raised: upgrade quietly
        new_hash = await passwords.hash_password(data.password, rounds=rounds)
    async with transaction(ctx.sessions) as session:
        if new_hash is not None:
            await session.execute(
                update(User)
                .where(User.id == user.id, User.password_hash == stored)
                .values(password_hash=new_hash)
            )
        outcome = await session_or_challenge(ctx, session, user=user)
    return outcome


async def login_second_step(
    ctx: AppContext, *, challenge_token: str, code: str | None, recovery_code: str | None
) -> TokenPair:
    """Answer a login's 2FA challenge with a TOTP or recovery code and open the session."""
    user_id = await twofactor.complete_challenge(
        ctx, token=challenge_token, code=code, recovery_code=recovery_code
    )
    async with transaction(ctx.sessions) as session:
        user = await session.get(User, user_id)
        if user is None or not user.is_active:
            raise InvalidCredentials()
        return await open_session(ctx, session, user=user)


async def refresh_session(ctx: AppContext, *, token: str) -> TokenPair:
    """Rotate: spend the presented token and issue a new pair in the same family.

    A spent or revoked token (including the loser of two concurrent refreshes with one token)
    revokes the whole family, strictly as RFC 9700 describes; there is no grace window.
    """
    outcome = await refresh.retry_deadlocks(lambda: _rotate(ctx, token))
    if isinstance(outcome, TokenPair):
        return outcome
    user_id, family = outcome
    log.warning("refresh_token_reuse", user_id=user_id, family=family)
    raise InvalidRefreshToken("refresh token was already used; the session has been revoked")


async def _rotate(ctx: AppContext, token: str) -> TokenPair | tuple[int, str]:
    """One transaction: a new pair, or (user id, family) of a family just ended for reuse."""
    now = utcnow()
    async with transaction(ctx.sessions) as session:
        row = await refresh.find_locked(session, token)
        if row is None:
            raise InvalidRefreshToken()
        if row.used_at is None and row.revoked_at is None:
            if row.expires_at <= now:
                raise InvalidRefreshToken("refresh token expired")
            user = await session.get(User, row.user_id)
            if user is None or not user.is_active:
                raise InvalidRefreshToken()
            if await refresh.spend(session, token_id=row.id, now=now):
                new_token = refresh.issue(
                    session, user_id=user.id, family=row.family_id,
                    ttl_s=ctx.settings.refresh_token_ttl_s,
                )
                return _access(ctx, user, family=row.family_id, refresh_token=new_token)
        # Replayed (or lost a race for) a spent token: end the session everywhere.
        await _end_family(ctx, session, user_id=row.user_id, family=row.family_id)
        return row.user_id, row.family_id


async def logout(ctx: AppContext, *, principal: Principal) -> None:
    """Refuse this access token until it expires and end its session (refresh family)."""
    ttl = max(1, principal.expires_at - int(time.time()))
    await ctx.redis.set(denylist_key(principal.jti), "1", ex=ttl)

    async def end() -> None:
        async with transaction(ctx.sessions) as session:
            await revocations.record_jti(session, jti=principal.jti, ttl_s=ttl)
            if principal.family is None:  # a token minted outside a session: it alone ends
                add_event(session, _revoked_event(principal.user_id, jti=principal.jti))
                return
            await _end_family(
                ctx, session, user_id=principal.user_id, family=principal.family,
                jti=principal.jti,
            )

    await refresh.retry_deadlocks(end)


async def _end_family(
    ctx: AppContext, session: AsyncSession, *, user_id: int, family: str, jti: str | None = None
) -> None:
    """Revoke the family's refresh tokens, refuse its access tokens, tell the gateways. A no-op
    when the family already ended (so replaying a dead token does not flood the event stream)."""
    if not await refresh.revoke_family(session, family=family) and jti is None:
        return
    ttl = ctx.settings.access_token_ttl_s
    await ctx.redis.set(family_revoked_key(family), "1", ex=ttl)
    await revocations.record_family(session, family=family, ttl_s=ttl)
    add_event(session, _revoked_event(user_id, jti=jti, family=family))


def _revoked_event(
    user_id: int, *, jti: str | None, family: str | None = None
) -> ev.UserTokensRevoked:
    return ev.UserTokensRevoked(
        data=ev.TokensRevokedData(user_id=user_id, jti=jti, family=family)
    )
