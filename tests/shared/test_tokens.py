from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from jose import jwt

from shared.errors import Unauthorized
from shared.tokens import TokenIssuer, TokenVerifier, generate_key_pair

ISS, AUD = "livecommerce", "livecommerce"


@pytest.fixture
def issuer(jwt_keys: tuple[str, str]) -> TokenIssuer:
    private, public = jwt_keys
    return TokenIssuer(private, public, issuer=ISS, audience=AUD, ttl_s=60)


def test_issued_token_verifies_with_public_key_only(
    issuer: TokenIssuer, jwt_keys: tuple[str, str]
) -> None:
    token, issued = issuer.issue_access(user_id=42, role="seller", name="Mei")
    principal = TokenVerifier(jwt_keys[1], issuer=ISS, audience=AUD).verify_access(token)
    assert principal == issued
    assert principal.user_id == 42 and principal.role == "seller"
    assert jwt.get_unverified_header(token)["alg"] == "ES256"


def test_expired_token_refused(jwt_keys: tuple[str, str]) -> None:
    private, public = jwt_keys
    short = TokenIssuer(private, public, issuer=ISS, audience=AUD, ttl_s=-10)
    token, _ = short.issue_access(user_id=1, role="buyer", name="x")
    with pytest.raises(Unauthorized, match="expired"):
        short.verify_access(token)


def test_token_from_another_key_refused(issuer: TokenIssuer) -> None:
    other_private, other_public = generate_key_pair()
    forged, _ = TokenIssuer(
        other_private, other_public, issuer=ISS, audience=AUD, ttl_s=60
    ).issue_access(user_id=1, role="admin", name="x")
    with pytest.raises(Unauthorized):
        issuer.verify_access(forged)


def _claims(**over: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "1", "jti": "j", "iat": now, "exp": now + 60, "iss": ISS, "aud": AUD,
        "typ": "access", "role": "admin",
    }
    claims.update(over)
    return claims


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_algorithm_confusion_and_none_refused(
    issuer: TokenIssuer, jwt_keys: tuple[str, str]
) -> None:
    # HS256 signed with the public key as the HMAC secret: the classic confusion attack
    # (built by hand: python-jose itself refuses to sign with a PEM as HMAC secret).
    head = _b64(b'{"alg":"HS256","typ":"JWT"}')
    body = _b64(json.dumps(_claims()).encode())
    mac = hmac.new(jwt_keys[1].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    hs = f"{head}.{body}.{_b64(mac)}"
    with pytest.raises(Unauthorized):
        issuer.verify_access(hs)
    header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"  # {"alg":"none","typ":"JWT"}
    payload = jwt.encode(_claims(), "k", algorithm="HS256").split(".")[1]
    with pytest.raises(Unauthorized):
        issuer.verify_access(f"{header}.{payload}.")


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "jti"])
def test_required_claims(jwt_keys: tuple[str, str], issuer: TokenIssuer, missing: str) -> None:
    claims = _claims()
    del claims[missing]
    token = jwt.encode(claims, jwt_keys[0], algorithm="ES256")
    with pytest.raises(Unauthorized):
        issuer.verify_access(token)


def test_wrong_audience_and_type_refused(jwt_keys: tuple[str, str], issuer: TokenIssuer) -> None:
    for claims in (_claims(aud="other"), _claims(typ="refresh"), _claims(iss="evil")):
        with pytest.raises(Unauthorized):
            issuer.verify_access(jwt.encode(claims, jwt_keys[0], algorithm="ES256"))
    token = jwt.encode(_claims(), jwt_keys[0], algorithm="ES256")
    assert issuer.verify_access(token).role == "admin"


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "x" * 5000])
def test_garbage_refused(issuer: TokenIssuer, garbage: str) -> None:
    with pytest.raises(Unauthorized):
        issuer.verify_access(garbage)


def test_verified_token_is_remembered_until_it_expires(
    issuer: TokenIssuer, jwt_keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = TokenVerifier(jwt_keys[1], issuer=ISS, audience=AUD)
    token, issued = issuer.issue_access(user_id=7, role="buyer", name="Ann")
    assert verifier.verify_access(token) == issued

    calls = 0
    real_verify = verifier._verify

    def counting(tok: str) -> object:
        nonlocal calls
        calls += 1
        return real_verify(tok)

    monkeypatch.setattr(verifier, "_verify", counting)
    assert verifier.verify_access(token) == issued
    assert calls == 0, "a token verified once is not verified again while it lives"

    # Past its `exp` the remembered token is refused (and forgotten), like a fresh one would be.
    monkeypatch.setattr(time, "time", lambda: issued.expires_at + 1)
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify_access(token)
    assert token not in verifier._verified and calls == 0


def test_refused_tokens_are_not_remembered_and_the_cache_is_bounded(
    issuer: TokenIssuer, jwt_keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = TokenVerifier(jwt_keys[1], issuer=ISS, audience=AUD)
    other = TokenIssuer(*generate_key_pair(), issuer=ISS, audience=AUD, ttl_s=60)
    forged, _ = other.issue_access(user_id=1, role="admin", name="x")
    for _ in range(2):
        with pytest.raises(Unauthorized):
            verifier.verify_access(forged)
    assert forged not in verifier._verified

    monkeypatch.setattr(TokenVerifier, "CACHE_SIZE", 3)
    tokens = [issuer.issue_access(user_id=i, role="buyer", name="b")[0] for i in range(5)]
    for token in tokens:
        verifier.verify_access(token)
    assert list(verifier._verified) == tokens[2:], "oldest dropped first, never above the bound"
