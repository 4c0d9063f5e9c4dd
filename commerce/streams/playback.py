"""Signed playback for private streams: RS256 tokens minted locally, no API call per viewer.

Cloudflare's `/stream/{uid}/token` endpoint would cost a round trip (and a rate-limit slot) for
every viewer. Instead we sign the same JWT ourselves with a Stream signing key (`POST
/stream/keys` returns `id` and a base64-encoded PEM): header `{alg: RS256, kid}`, claims
`sub` (video or live input uid), `kid`, `exp`, `nbf` and optional `accessRules`. The token then
replaces the uid in the playback URL.

Without a configured key outside production a throwaway key is generated per process, so the
code path is exercised locally (Cloudflare would of course reject those tokens).
"""

from __future__ import annotations

import base64
import binascii
import functools
import time
from typing import Any

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwt

from shared.errors import Unavailable
from shared.settings import CommerceSettings

log = structlog.get_logger(__name__)


def _pem_text(value: str) -> str:
    """Accept the PEM as Cloudflare returns it (base64 of the PEM) or as plain PEM text."""
    stripped = value.strip()
    if stripped.startswith("-----BEGIN"):
        return stripped
    try:
        return base64.b64decode(stripped, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unavailable("CLOUDFLARE_SIGNING_KEY_PEM is neither PEM nor base64 PEM") from None


@functools.cache
def _dev_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    log.warning("stream_signing_key_ephemeral", reason="CLOUDFLARE_SIGNING_KEY_PEM unset")
    return "dev-local-key", pem


def signing_key(settings: CommerceSettings) -> tuple[str, str]:
    """(kid, PEM) of the Stream signing key."""
    cloudflare = settings.streams.cloudflare
    if cloudflare.signing_key_pem is not None and cloudflare.signing_key_id:
        return cloudflare.signing_key_id, _pem_text(cloudflare.signing_key_pem.get_secret_value())
    if settings.is_production:
        raise Unavailable("private playback needs CLOUDFLARE_SIGNING_KEY_ID and _PEM")
    return _dev_key()


def sign_token(
    settings: CommerceSettings,
    uid: str,
    *,
    ttl_s: int | None = None,
    access_rules: list[dict[str, Any]] | None = None,
    now: int | None = None,
) -> str:
    kid, pem = signing_key(settings)
    issued = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "sub": uid,
        "kid": kid,
        "nbf": issued - 60,  # tolerate small clock skew at Cloudflare's edge
        "exp": issued + (ttl_s or settings.streams.cloudflare.playback_token_ttl_s),
    }
    if access_rules:
        claims["accessRules"] = access_rules
    return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": kid})


def signed_playback_urls(settings: CommerceSettings, uid: str) -> dict[str, str]:
    token = sign_token(settings, uid)
    base = f"https://{settings.streams.cloudflare.customer_subdomain}/{token}"
    return {"hls_url": f"{base}/manifest/video.m3u8", "dash_url": f"{base}/manifest/video.mpd"}
