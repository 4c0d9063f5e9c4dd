"""Social login: verify with the provider, then find, link or create the account.

Order of resolution, inside one transaction:

1. A `SocialAccount` for (provider, subject) exists: that user logs in. Nothing the provider
   says about email changes which account this is.
2. The provider *vouches* for an email (`email_verified`) that an account already has: the
   identity is linked to that account. If that account's own address was never verified
   (a password sign-up), whoever registered it did not prove they own the mailbox; the
   provider just proved the caller does. To stop a "pre-account takeover" (register the
   victim's address with a password, wait for them to sign in with Google), the link clears
   the unproven password and ends every existing session; the address becomes verified.
3. The provider names an email it does *not* vouch for and an account has it: 409
   `email_taken`. Linking would hand the account to whoever controls the provider account;
   creating a second account under the same address is impossible (unique) and confusing.
4. Otherwise a new buyer account is created, with the provider's email when verified. Without
   a verified email (Instagram never sends one; LINE without the email permission) the
   account gets a random, undeliverable placeholder under the reserved `.invalid` TLD
   (RFC 2606), never a predictable one, so nobody can squat a future user's address.

Concurrent first logins of one identity race on the unique (provider, subject) or email
index; the loser's transaction rolls back and it resolves again, finding the winner's rows
(an InnoDB deadlock victim is rerun the same way, with `auth.refresh.retry_deadlocks`).
"""

from __future__ import annotations

import secrets
import time

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commerce import throttle
from commerce.auth import refresh, revocations, twofactor
from commerce.auth.models import RefreshToken, SocialAccount, User
from commerce.auth.service import TokenPair, session_or_challenge
from commerce.auth.social.base import Provider, SocialCredentials, SocialIdentity
from commerce.auth.social.errors import InvalidSocialToken, SocialEmailTaken
from commerce.auth.social.registry import SocialRegistry
from commerce.context import AppContext
from commerce.db import transaction
from commerce.outbox import add_event
from commerce.users.schemas import DISPLAY_NAME_MAX
from shared import events as ev
from shared.errors import Forbidden
from shared.text import TextRejected, clean_text
from shared.tokens import family_revoked_key, user_revoked_before_key

log = structlog.get_logger(__name__)

PLACEHOLDER_DOMAIN = "users.invalid"
SUBJECT_MAX = 255
_PROVIDER_NAMES = {
    "line": "LINE",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "google": "Google",
    "apple": "Apple",
    "kapook": "Kapook",
}


class AccountDisabled(Forbidden):
    def __init__(self) -> None:
        super().__init__("this account is disabled", code="account_disabled")


async def social_login(
    ctx: AppContext,
    verifiers: SocialRegistry,
    *,
    provider: Provider,
    credentials: SocialCredentials,
    client_ip: str,
) -> TokenPair | twofactor.Challenge:
    """Verify the provider credentials and open a session for the matching account (or, with
    2FA on, answer the challenge of the second step, as a password login does)."""
    await throttle.enforce(
        ctx.limiter, ctx.settings.rate_limits.login_per_ip, "social-login-ip", client_ip
    )
    identity = await verifiers.get(provider).verify(credentials)
    if not 0 < len(identity.subject) <= SUBJECT_MAX:  # the column's size; no provider nears it
        raise InvalidSocialToken("the provider named an unusable user id")
    try:
        return await refresh.retry_deadlocks(lambda: _resolve(ctx, identity))
    except IntegrityError:  # lost a race with a concurrent first login: the rows exist now
        return await refresh.retry_deadlocks(lambda: _resolve(ctx, identity))


async def _resolve(
    ctx: AppContext, identity: SocialIdentity
) -> TokenPair | twofactor.Challenge:
    async with transaction(ctx.sessions) as session:
        link = await session.scalar(
            select(SocialAccount).where(
                SocialAccount.provider == identity.provider,
                SocialAccount.subject == identity.subject,
            )
        )
        if link is not None:
            user = await session.get(User, link.user_id)
            assert user is not None  # FK with ON DELETE CASCADE
            _check_active(user)
            if identity.email is not None and link.email != identity.email:
                link.email = identity.email
            return await session_or_challenge(ctx, session, user=user)

        user = await _by_email(session, identity)
        if user is None:
            user = _new_user(identity)
            session.add(user)
            await session.flush()
            log.info("social_account_created", user_id=user.id, provider=identity.provider)
        else:
            _check_active(user)
            if not user.email_verified:
                await _claim_unverified(ctx, session, user)
            log.info("social_account_linked", user_id=user.id, provider=identity.provider)
        session.add(
            SocialAccount(
                user_id=user.id,
                provider=identity.provider,
                subject=identity.subject,
                email=identity.email,
            )
        )
        await session.flush()  # the unique (provider, subject) index decides a race
        return await session_or_challenge(ctx, session, user=user)


async def _by_email(session: AsyncSession, identity: SocialIdentity) -> User | None:
    """The account to link by email, if any; refuses an unvouched email that is taken."""
    if identity.email is None:
        return None
    # A plain read, no FOR UPDATE: a locking read of a missing row takes a gap lock on
    # MariaDB, and two first logins holding gap locks deadlock on their inserts. Without it
    # the second insert waits on the unique index and fails cleanly (retried by the caller).
    user = await session.scalar(select(User).where(User.email == identity.email))
    if user is not None and not identity.email_verified:
        raise SocialEmailTaken()
    return user


def _check_active(user: User) -> None:
    if not user.is_active:
        raise AccountDisabled()


def _new_user(identity: SocialIdentity) -> User:
    verified = identity.email is not None and identity.email_verified
    email = identity.email if verified and identity.email else _placeholder(identity.provider)
    return User(
        email=email,
        password_hash=None,
        display_name=_display_name(identity),
        role="buyer",
        locale="en",
        market="TW",
        email_verified=verified,
    )


def _placeholder(provider: str) -> str:
    return f"{provider}-{secrets.token_hex(12)}@{PLACEHOLDER_DOMAIN}"


def _display_name(identity: SocialIdentity) -> str:
    try:  # the same hygiene as a typed display name (shared.text)
        name = " ".join(clean_text(identity.name or "").split())[:DISPLAY_NAME_MAX].strip()
    except TextRejected:
        name = ""
    if name:
        return name
    if identity.email and identity.email_verified:
        return identity.email.split("@", 1)[0][:DISPLAY_NAME_MAX]
    return f"{_PROVIDER_NAMES[identity.provider]} user"


async def _claim_unverified(ctx: AppContext, session: AsyncSession, user: User) -> None:
    """The provider proved the caller owns this unverified address: end the claims of whoever
    registered it (password and every session), then mark the address verified.

    Sessions end the way logout ends them (refresh family revoked, its access tokens refused
    through the family mark); the "revoked before" mark also covers tokens without a family.
    Marks go to Redis before the commit, as in `auth.service`: they only ever end sessions
    that must end anyway.
    """
    had_password = user.password_hash is not None
    user.password_hash = None
    user.email_verified = True
    families = (
        await session.scalars(
            select(RefreshToken.family_id)
            .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
            .distinct()
        )
    ).all()
    ttl = ctx.settings.access_token_ttl_s
    for family in families:
        await refresh.revoke_family(session, family=family)
        await ctx.redis.set(family_revoked_key(family), "1", ex=ttl)
        await revocations.record_family(session, family=family, ttl_s=ttl)
    # Tokens issued up to the previous second; this login's token is issued in this one.
    before = int(time.time()) - 1
    await ctx.redis.set(user_revoked_before_key(user.id), str(before), ex=ttl)
    await revocations.record_user_before(session, user_id=user.id, before=before, ttl_s=ttl)
    add_event(session, ev.UserTokensRevoked(data=ev.TokensRevokedData(user_id=user.id)))
    log.warning(
        "social_link_claimed_unverified_account",
        user_id=user.id,
        had_password=had_password,
        sessions_ended=len(families),
    )
