"""Verify provider-signed ID tokens locally against the provider's published keys (JWKS).

Keys are cached in-process for as long as the provider's `Cache-Control: max-age` allows
(clamped to [min, max] from settings), so a login costs no outbound call in the steady state.
An unknown `kid` triggers one early refetch (providers rotate keys ahead of use), at most once
per `refetch_interval_s`, so garbage tokens cannot make us hammer the provider. When a refetch
fails but keys were fetched before, the old keys keep serving: a provider outage then only
blocks tokens signed with a brand-new key.

The JWT library (python-jose) is pinned to an explicit algorithm list per provider; the key is
chosen by `kid` and must be of the header algorithm's family, so an HS256 token can never be
checked against a public key used as an HMAC secret.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
from dataclasses import dataclass, field
from typing import Any

from jose import JWTError, jwk, jwt
from jose.exceptions import JOSEError

from commerce.auth.social.base import json_body, provider_http
from commerce.auth.social.errors import InvalidSocialToken, ProviderUnavailable

_MAX_AGE = re.compile(r"max-age=(\d+)")
_KTY = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
MAX_TOKEN_CHARS = 8192


@dataclass
class _Entry:
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    expires_at: float = 0.0
    fetched_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class JwksCache:
    """Key sets by URL, shared by every provider of one app (one per app: `SocialRegistry`)."""

    def __init__(
        self,
        *,
        timeout_s: float,
        min_ttl_s: int = 60,
        max_ttl_s: int = 24 * 3600,
        default_ttl_s: int = 3600,
        refetch_interval_s: float = 30.0,
    ) -> None:
        self._timeout_s = timeout_s
        self._min_ttl_s = min_ttl_s
        self._max_ttl_s = max_ttl_s
        self._default_ttl_s = default_ttl_s
        self._refetch_interval_s = refetch_interval_s
        self._entries: dict[str, _Entry] = {}

    async def key(self, url: str, kid: str | None, *, provider: str) -> dict[str, Any] | None:
        """The JWK for `kid` (or the only key when the token names none), fetching as needed."""
        entry = self._entries.setdefault(url, _Entry())
        now = time.monotonic()
        if now >= entry.expires_at:
            await self._refresh(url, entry, provider=provider, force=False)
        found = _pick(entry.keys, kid)
        if found is None and time.monotonic() - entry.fetched_at >= self._refetch_interval_s:
            await self._refresh(url, entry, provider=provider, force=True)
            found = _pick(entry.keys, kid)
        return found

    async def _refresh(self, url: str, entry: _Entry, *, provider: str, force: bool) -> None:
        async with entry.lock:
            now = time.monotonic()
            # Another request refreshed while this one waited for the lock.
            if not force and now < entry.expires_at:
                return
            if force and now - entry.fetched_at < self._refetch_interval_s:
                return
            try:
                keys, ttl = await self._fetch(url, provider)
            except ProviderUnavailable:
                if entry.keys:  # serve the keys we have rather than fail every login
                    entry.expires_at = now + self._min_ttl_s
                    entry.fetched_at = now  # and do not retry on every unknown `kid` either
                    return
                raise
            entry.keys = keys
            entry.fetched_at = now
            entry.expires_at = now + ttl

    async def _fetch(self, url: str, provider: str) -> tuple[dict[str, dict[str, Any]], float]:
        async with provider_http(provider, self._timeout_s) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise ProviderUnavailable(provider, f"key set answered HTTP {response.status_code}")
        body = json_body(response, provider)
        raw = body.get("keys")
        if not isinstance(raw, list):
            raise ProviderUnavailable(provider, "published a malformed key set")
        keys = {
            str(k.get("kid", "")): k
            for k in raw
            if isinstance(k, dict) and k.get("use", "sig") == "sig"
        }
        match = _MAX_AGE.search(response.headers.get("cache-control", ""))
        ttl = int(match.group(1)) if match else self._default_ttl_s
        return keys, float(min(max(ttl, self._min_ttl_s), self._max_ttl_s))


def _pick(keys: dict[str, dict[str, Any]], kid: str | None) -> dict[str, Any] | None:
    if kid is not None:
        return keys.get(kid)
    return next(iter(keys.values())) if len(keys) == 1 else None


@dataclass(frozen=True, slots=True)
class IdTokenPolicy:
    """What a provider's ID tokens must look like (issuer, audience, algorithms)."""

    provider: str
    jwks_url: str
    issuers: frozenset[str]
    audiences: frozenset[str]
    algorithms: tuple[str, ...] = ("RS256",)
    leeway_s: int = 60


async def verify_id_token(token: str, policy: IdTokenPolicy, cache: JwksCache) -> dict[str, Any]:
    """Signature, `exp`/`iat`/`nbf` (with leeway), issuer and audience; returns the claims."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise InvalidSocialToken()
    try:
        header = jwt.get_unverified_header(token)
    except JWTError:
        raise InvalidSocialToken("the ID token is malformed") from None
    alg = header.get("alg")
    if alg not in policy.algorithms:
        raise InvalidSocialToken("the ID token is signed with an unexpected algorithm")
    kid = header.get("kid")
    key = await cache.key(
        policy.jwks_url, kid if isinstance(kid, str) else None, provider=policy.provider
    )
    if key is None or key.get("kty") != _KTY.get(alg[:2]) or key.get("alg", alg) != alg:
        raise InvalidSocialToken("the ID token is signed with an unknown key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            jwk.construct(key, algorithm=alg),
            algorithms=[alg],
            options={
                "verify_aud": False,  # several client ids may be ours: checked below
                "verify_iss": False,
                # Google's code-flow tokens carry `at_hash`; we are given no access token to
                # compare, and the ID token alone is what authenticates the user here.
                "verify_at_hash": False,
                "require_exp": True,
                "require_iat": True,
                "require_sub": True,
                "leeway": policy.leeway_s,
            },
        )
    except JOSEError as exc:
        expired = "expired" in str(exc).lower()
        raise InvalidSocialToken(
            "the ID token has expired" if expired else "the ID token signature is invalid"
        ) from None
    if claims.get("iss") not in policy.issuers:
        raise InvalidSocialToken("the ID token was issued by someone else")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(a, str) and a in policy.audiences for a in audiences):
        raise InvalidSocialToken("the ID token was issued for another app")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise InvalidSocialToken("the ID token names no user")
    return claims


def check_nonce(claims: dict[str, Any], expected: str | None) -> None:
    """A nonce the client sent must match; a token bound to a nonce needs the client's nonce.

    `expected` is what the token's `nonce` claim must equal (hashed already where the provider
    hashes, as Apple's native SDKs do).
    """
    actual = claims.get("nonce")
    if expected is None:
        if actual is not None:
            raise InvalidSocialToken("the ID token is bound to a nonce: send it as `nonce`")
        return
    if not isinstance(actual, str) or not hmac.compare_digest(actual.encode(), expected.encode()):
        raise InvalidSocialToken("the nonce does not match the ID token")
