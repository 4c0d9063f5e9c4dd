"""What every social-login provider adapter implements, and the HTTP plumbing they share.

An adapter turns what the client app got from the provider (an ID token, an access token or an
authorization code, plus the nonce it chose) into a `SocialIdentity` the provider vouches for,
or raises one of the errors in `errors.py`. Adapters never touch the database: linking accounts
is `service.py`'s job, so the two can be tested (and replaced) separately.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx

from commerce.auth.social.errors import InvalidSocialToken, ProviderUnavailable
from shared.tls import client_tls

Provider = Literal["line", "facebook", "instagram", "google", "apple", "kapook"]
PROVIDERS: tuple[Provider, ...] = ("line", "facebook", "instagram", "google", "apple", "kapook")


@dataclass(frozen=True, slots=True)
class SocialCredentials:
    """What the client sent; which fields a provider needs differs (see each adapter)."""

    id_token: str | None = None
    access_token: str | None = None
    code: str | None = None
    nonce: str | None = None


@dataclass(frozen=True, slots=True)
class SocialIdentity:
    """A user as the provider vouches for them.

    `subject` is the provider's stable id for the user (for our app); `email_verified` is True
    only when the provider asserts it owns the address, since only then may we link by email.
    """

    provider: Provider
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


class SocialVerifier(Protocol):
    provider: Provider

    async def verify(self, credentials: SocialCredentials) -> SocialIdentity: ...


def require(value: str | None, field: str, provider: str) -> str:
    if not value:
        raise InvalidSocialToken(f"{provider} login needs `{field}`")
    return value


def clean_email(value: Any) -> str | None:
    """The provider's email, trimmed and lowercased like ours, or None when absent or odd."""
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    if not 3 <= len(email) <= 254 or email.count("@") != 1:
        return None
    return email


def truthy_claim(value: Any) -> bool:
    """Apple sends `email_verified` as the string "true" or a boolean; Google as a boolean."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


@asynccontextmanager
async def provider_http(provider: str, timeout_s: float) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for one verification, turning transport failures into a 503.

    One short-lived client per login keeps no sockets or lifecycle hooks in the app: logins are
    rare next to other traffic, and the JWT providers need no call at all once keys are cached.
    Every phase (connect, read, write, pool) is bounded by `timeout_s`.
    """
    try:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s), follow_redirects=False, verify=client_tls()
        ) as client:
            yield client
    except httpx.TransportError as exc:  # timeouts, refused connections, TLS, protocol errors
        reason = f"could not be reached ({type(exc).__name__})"
        raise ProviderUnavailable(provider, reason) from None


def json_body(response: httpx.Response, provider: str) -> dict[str, Any]:
    """The JSON object a provider answered, or a 503 when it answered something else.

    A 5xx, a 429 or a non-JSON body means the provider is in trouble (or throttling us), not
    that the user's token is bad, so the client should retry later rather than sign in again.
    """
    if response.status_code >= 500 or response.status_code == 429:  # down, or throttling us
        raise ProviderUnavailable(provider, f"answered HTTP {response.status_code}")
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ProviderUnavailable(provider, "answered a malformed response") from None
    if not isinstance(body, dict):
        raise ProviderUnavailable(provider, "answered a malformed response")
    return body
