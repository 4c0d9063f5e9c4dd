"""Access tokens: issued by commerce, verified by commerce and the gateway.

ES256 so the gateway holds only the public key. The JWT library stays behind this module (python-
jose signs) so it can be swapped without touching callers. Verification pins the algorithm,
requires `exp`, `iat`, `sub`, `jti`, and checks issuer and audience; it calls `cryptography`'s
ECDSA directly (`_verify_es256`, the same rules as python-jose's `jwt.decode`, which a
differential test holds it to). Revocation needs I/O, so it
is a separate step: `is_revoked(redis, principal)` is the one check both services call after
verifying (the `jti` denylist, the per-user "revoked before" mark and the refresh-family mark).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jose import jwt
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from shared.errors import ConfigError, Unauthorized, Unavailable
from shared.keyfiles import dev_key, public_pem_of, read_key
from shared.outage import REDIS_DOWN
from shared.redis import REDIS_RUN_LUA, run_each
from shared.settings import VAR_DIR, BaseAppSettings

ALGORITHM = "ES256"
_REQUIRED = ("exp", "iat", "sub", "jti")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified access token speaks for."""

    user_id: int
    role: str
    name: str
    jti: str
    expires_at: int
    issued_at: int = 0
    # The refresh-token family (one per login) this access token was issued from, so revoking
    # the family (logout, refresh-token reuse) also refuses its still-live access tokens.
    family: str | None = None


def generate_key_pair() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _dev_private_key() -> str:
    """A development key pair kept in var/ so every local process shares it."""
    return dev_key(VAR_DIR / "dev-jwt-es256.pem", lambda: generate_key_pair()[0])


def load_keys(settings: BaseAppSettings) -> tuple[str | None, str]:
    """(private PEM or None, public PEM) from settings, or the development pair."""
    secret = settings.jwt_private_key.get_secret_value() if settings.jwt_private_key else None
    private = read_key(secret, settings.jwt_private_key_file)
    public = read_key(settings.jwt_public_key, settings.jwt_public_key_file)
    if private is None and public is None:
        if settings.is_production:
            raise ConfigError("JWT keys must be configured in production")
        private = _dev_private_key()
    if public is None:
        assert private is not None
        try:
            public = public_pem_of(private)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"JWT private key is not a valid PEM EC key: {exc}") from None
    return private, public


class TokenVerifier:
    """Verifies access tokens, remembering the ones it has verified.

    An ES256 verification costs about 0.2 ms of CPU, a tenth of a flash-sale request, and a
    client presents the same token on every request for its 15 minutes. The outcome for a given
    token string never changes except by time, so verified tokens are kept (bounded, oldest
    dropped first) with their `exp`, which is checked on every hit. Only successes are kept:
    a forged token is verified, and refused, every time. Revocation is not cached here; it is
    `is_revoked`'s job on every request.
    """

    CACHE_SIZE = 10_000

    def __init__(self, public_pem: str, *, issuer: str, audience: str) -> None:
        # Parsed once (python-jose loaded the PEM again for every token, ~14 % of a verification)
        self._key = _es256_public_key(public_pem)
        self._issuer = issuer
        self._audience = audience
        self._verified: dict[str, Principal] = {}

    def verify_access(self, token: str) -> Principal:
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise Unauthorized("invalid token")
        cached = self._verified.get(token)
        if cached is not None:
            if time.time() < cached.expires_at:
                return cached
            del self._verified[token]
            raise Unauthorized("token expired")
        principal = self._verify(token)
        if len(self._verified) >= self.CACHE_SIZE:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = principal
        return principal

    def _verify(self, token: str) -> Principal:
        claims = _verify_es256(
            token, self._key, issuer=self._issuer, audience=self._audience, now=int(time.time())
        )
        if claims.get("typ") != "access":
            raise Unauthorized("invalid token")
        family = claims.get("fam")
        if family is not None and (not isinstance(family, str) or not 0 < len(family) <= 64):
            raise Unauthorized("invalid token")
        try:
            return Principal(
                user_id=int(claims["sub"]),
                role=str(claims.get("role", "buyer")),
                name=str(claims.get("name", "")),
                jti=str(claims["jti"]),
                expires_at=int(claims["exp"]),
                issued_at=int(claims["iat"]),
                family=family,
            )
        except (KeyError, ValueError, TypeError):
            raise Unauthorized("invalid token") from None


def _es256_public_key(public_pem: str) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(public_pem.encode())
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"JWT public key is not a valid PEM key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ConfigError("JWT public key must be an EC P-256 key (ES256)")
    return key


_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def _b64url(segment: str) -> bytes:
    if not _SEGMENT.fullmatch(segment):
        raise Unauthorized("invalid token")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise Unauthorized("invalid token") from None


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Unauthorized("invalid token") from None
    if not isinstance(value, dict):
        raise Unauthorized("invalid token")
    return value


def _int_claim(claims: dict[str, Any], name: str) -> int:
    value = claims[name]
    try:
        return int(value)  # python-jose's rule: anything int() takes ("123", 1.5) is accepted
    except (TypeError, ValueError):
        raise Unauthorized("invalid token") from None


def _verify_es256(
    token: str, key: ec.EllipticCurvePublicKey, *, issuer: str, audience: str, now: int
) -> dict[str, Any]:
    """The claims of a compact ES256 JWS signed by `key`, or Unauthorized ("token expired" or
    "invalid token").

    Why not python-jose's `jwt.decode`: it parses the token three times and base64-decodes nine
    segments around the one ECDSA verification, ~70 µs of ~220 per new token (BENCHMARKS.md,
    issue 20, session 9), and a signed-in join storm verifies a new token per connect. The
    rules are python-jose's, checked against it by `tests/shared/test_tokens.py`: only ES256
    (no `none`, no HMAC with the public key), a 64-byte r||s signature, `exp`/`iat`/`sub`/`jti`
    required, `exp` not before now, `nbf` (if any) not after it, `iss` must match, `aud` (a
    string or a list) must name ours, `sub` and `jti` strings, and a token with `at_hash` refused
    (there is no access token to compare it with). A `crit` header is refused (RFC 7515 4.1.11:
    no extension is understood here).
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthorized("invalid token")
    head_b64, body_b64, sig_b64 = parts
    header = _json_object(_b64url(head_b64))
    if header.get("alg") != ALGORITHM or "crit" in header:
        raise Unauthorized("invalid token")
    signature = _b64url(sig_b64)
    if len(signature) != 64:
        raise Unauthorized("invalid token")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        key.verify(der, f"{head_b64}.{body_b64}".encode("ascii"), _ECDSA_SHA256)
    except InvalidSignature:
        raise Unauthorized("invalid token") from None
    claims = _json_object(_b64url(body_b64))
    if any(name not in claims for name in _REQUIRED):
        raise Unauthorized("invalid token")
    _int_claim(claims, "iat")
    if "nbf" in claims and _int_claim(claims, "nbf") > now:
        raise Unauthorized("invalid token")
    if _int_claim(claims, "exp") < now:
        raise Unauthorized("token expired")
    # `aud` is required (python-jose accepted a token without one): every token we issue
    # names its audience, so one without it was minted for something else with our key.
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else aud
    if not isinstance(auds, list) or not all(isinstance(a, str) for a in auds):
        raise Unauthorized("invalid token")
    if audience not in auds:
        raise Unauthorized("invalid token")
    if claims.get("iss") != issuer:  # python-jose refuses a token without `iss` too
        raise Unauthorized("invalid token")
    if not isinstance(claims["sub"], str) or not isinstance(claims["jti"], str):
        raise Unauthorized("invalid token")
    if "at_hash" in claims:
        raise Unauthorized("invalid token")
    return claims


class TokenIssuer(TokenVerifier):
    def __init__(
        self, private_pem: str, public_pem: str, *, issuer: str, audience: str, ttl_s: int
    ) -> None:
        super().__init__(public_pem, issuer=issuer, audience=audience)
        self._private = private_pem
        self.ttl_s = ttl_s

    def issue_access(
        self, *, user_id: int, role: str, name: str, family: str | None = None
    ) -> tuple[str, Principal]:
        now = int(time.time())
        jti = uuid.uuid4().hex
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "role": role,
            "name": name,
            "typ": "access",
            "jti": jti,
            "iat": now,
            "exp": now + self.ttl_s,
            "iss": self._issuer,
            "aud": self._audience,
        }
        if family is not None:
            claims["fam"] = family
        token = jwt.encode(claims, self._private, algorithm=ALGORITHM)
        return token, Principal(user_id, role, name, jti, now + self.ttl_s, now, family)


def make_verifier(settings: BaseAppSettings) -> TokenVerifier:
    _, public = load_keys(settings)
    return TokenVerifier(public, issuer=settings.jwt_issuer, audience=settings.jwt_audience)


def make_issuer(settings: BaseAppSettings) -> TokenIssuer:
    private, public = load_keys(settings)
    if private is None:
        raise ConfigError("JWT_PRIVATE_KEY is required to issue tokens")
    return TokenIssuer(
        private,
        public,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_s=settings.access_token_ttl_s,
    )


def denylist_key(jti: str) -> str:
    """Redis key marking a revoked access token until it would have expired anyway."""
    return f"auth:denied:{jti}"


def user_revoked_before_key(user_id: int) -> str:
    """Redis key: tokens of this user issued before this epoch second are refused."""
    return f"auth:revoked_before:{user_id}"


def family_revoked_key(family: str) -> str:
    """Redis key: access tokens carrying this refresh family (`fam`) are refused. Set with a TTL
    of the access-token lifetime: no token of a revoked family is issued afterwards, so by then
    every one it covered has expired anyway."""
    return f"auth:family_revoked:{family}"


# The revocation rule, once, in Lua: `is_revoked` runs it alone, and a script that must check it
# in the same round trip as its own work (the checkout's stock gate) includes it. Three marks,
# all written by commerce: the token's own `jti` (logout), the user's "revoked before" epoch
# (every session of the user), and its refresh family (logout, reuse detection). Every mark is
# a string (SET), so a mark exists when GET finds a value. `revoked_by` takes the marks' values
# read already (the checkout's fast path reads all its keys in one MGET; false: no mark).
REVOKED_LUA = """
local function revoked_by(deny, before, family, issued_at)
  if deny then return true end
  if before and tonumber(issued_at) <= tonumber(before) then return true end
  return family and true or false
end
local function revoked(deny_key, before_key, family_key, issued_at)
  return revoked_by(redis.call('GET', deny_key), redis.call('GET', before_key),
                    family_key ~= '' and redis.call('GET', family_key), issued_at)
end
"""
# 1 revoked, 0 not, 2 unknown: the marks were not (yet) restored into this Redis run (it
# restarted or lost data since commerce last loaded them from the database).
_REVOCATION_STATE = REVOKED_LUA + REDIS_RUN_LUA + """
local n = tonumber(ARGV[2])
if revoked(KEYS[1], KEYS[2], n == 3 and KEYS[3] or '', ARGV[1]) then return 1 end
if redis.call('GET', KEYS[n + 1]) ~= redis_run() then return 2 end
return 0
"""

RevocationCheck = Callable[[Principal], Awaitable[bool]]


def revocations_run_key() -> str:
    """Redis key: the Redis run (`run_id`) the revocation marks were last restored into from
    the database (commerce/auth/revocations.py). Any other value: the marks may be missing."""
    return "auth:revocations:run"


MARK_RESTORED_LUA = REDIS_RUN_LUA + "redis.call('SET', KEYS[1], redis_run()) return 1"
_RESTORED = REDIS_RUN_LUA + "return redis.call('GET', KEYS[1]) == redis_run() and 1 or 0"


async def revocations_restored(redis: Redis) -> bool:
    """Whether this Redis run holds the marks (they were restored into it since it started)."""
    return bool(int(await redis.register_script(_RESTORED)(keys=[revocations_run_key()])))


async def mark_revocations_restored(redis: Redis) -> None:
    """Record that every mark is in this Redis run (commerce, once it has put them back)."""
    await redis.register_script(MARK_RESTORED_LUA)(keys=[revocations_run_key()])


def revocation_keys(principal: Principal) -> list[str]:
    """KEYS for `revoked(...)`, in order (two without a family, three with one)."""
    keys = [denylist_key(principal.jti), user_revoked_before_key(principal.user_id)]
    if principal.family is not None:
        keys.append(family_revoked_key(principal.family))
    return keys


async def is_revoked(
    redis: Redis, principal: Principal, *, fallback: RevocationCheck | None = None
) -> bool:
    """Whether a verified token was revoked since it was issued (one round trip).

    The marks live in Redis and, since Redis can restart without its last second or lose
    everything, in the database too. While this Redis run has not had them restored, or while
    Redis is unreachable, `fallback` (commerce: the database) decides; without one (the
    gateway) the answer is `Unavailable`: closed, never "not revoked" on missing marks.
    """
    try:
        if isinstance(redis, RedisCluster):
            state = await _revocation_state_on_cluster(redis, principal, revocation_keys(principal))
        else:
            script = redis.register_script(_REVOCATION_STATE)  # the SHA; loads on NOSCRIPT
            keys, args = _revocation_state_call(principal)
            state = int(await script(keys=keys, args=args))
    except REDIS_DOWN:
        if fallback is None:
            raise
        return await fallback(principal)
    if state == NOT_RESTORED and fallback is not None:
        return await fallback(principal)
    return revoked_in_state(state)


# `_REVOCATION_STATE`'s answers: 1 revoked, 0 not, this one: the marks are not (yet) restored
# into this Redis run.
NOT_RESTORED = 2


def revoked_in_state(state: int) -> bool:
    """A revocation state as `is_revoked` without a fallback answers it: `Unavailable` while
    the marks are not restored (closed, never "not revoked" on missing marks)."""
    if state == NOT_RESTORED:
        raise Unavailable("token revocations are being restored; retry shortly")
    return state == 1


def _revocation_state_call(principal: Principal) -> tuple[list[str], list[int]]:
    """`_REVOCATION_STATE`'s keys and arguments for one verified token."""
    keys = revocation_keys(principal)
    return [*keys, revocations_run_key()], [principal.issued_at, len(keys)]


async def revocation_states(redis: Redis, principals: Sequence[Principal]) -> list[int]:
    """`_REVOCATION_STATE` for several verified tokens in one round trip (one pipeline; one
    Redis, not a cluster): 1 revoked, 0 not, 2 unknown (marks not restored into this run)."""
    script = redis.register_script(_REVOCATION_STATE)
    calls = [_revocation_state_call(principal) for principal in principals]
    return [int(state) for state in await run_each(redis, script, calls)]


async def _revocation_state_on_cluster(
    redis: RedisCluster, principal: Principal, keys: list[str]
) -> int:
    """`_REVOCATION_STATE` on a Redis Cluster, where the marks (names older than cluster
    support, kept because the database's `token_revocations` rows hold them) live in several
    slots: read them in one non-transactional pipeline, then the run mark. No atomicity is
    lost: marks are only ever added, so each read answers for the moment it ran. The run mark
    tells a restart of the master holding it; a failover elsewhere keeps the marks its replica
    had (all but the replication lag). Both reads run concurrently: one round trip of latency
    (the run mark is read even when a mark answers, which costs no waiting)."""

    async def marks() -> list[Any]:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.exists(keys[0])
            pipe.get(keys[1])
            if len(keys) == 3:
                pipe.exists(keys[2])
            return await pipe.execute()

    read, restored = await asyncio.gather(
        marks(), revocations_restored(redis),  # type: ignore[arg-type]
        return_exceptions=True,
    )
    if isinstance(read, BaseException):
        raise read
    if isinstance(restored, BaseException):
        raise restored
    denied, before, *family = read
    if int(denied) or (before is not None and principal.issued_at <= int(before)) or any(
        int(f) for f in family
    ):
        return 1
    return 0 if restored else 2


async def ensure_not_revoked(
    redis: Redis, principal: Principal, *, fallback: RevocationCheck | None = None
) -> None:
    """`is_revoked`, as the 401 every HTTP route gives a revoked token."""
    if await is_revoked(redis, principal, fallback=fallback):
        raise Unauthorized("token revoked")
