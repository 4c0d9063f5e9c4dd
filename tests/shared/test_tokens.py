from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jose import JWTError, jwt

from shared.errors import ConfigError, Unauthorized
from shared.tokens import (
    TokenIssuer,
    TokenVerifier,
    _es256_public_key,
    _verify_es256,
    generate_key_pair,
)

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


# --- the direct ES256 verifier against python-jose's `jwt.decode` (the rules it replaced) ------


def _sign(private_pem: str, header: dict[str, object], claims: object) -> str:
    """A compact JWS over any header and payload, signed ES256 by hand (r || s, 64 bytes)."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256())))
    return f"{head}.{body}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _jose_outcome(token: str, public_pem: str) -> object:
    """What the python-jose based verifier answered: the claims, or its refusal's message."""
    try:
        if jwt.get_unverified_header(token).get("alg") != "ES256":
            return "invalid token"
        return jwt.decode(
            token, public_pem, algorithms=["ES256"], audience=AUD, issuer=ISS,
            options={f"require_{c}": True for c in ("exp", "iat", "sub", "jti")},
        )
    except JWTError as exc:
        return "token expired" if "expired" in str(exc).lower() else "invalid token"


def _our_outcome(token: str, public_pem: str) -> object:
    try:
        return _verify_es256(token, _es256_public_key(public_pem), issuer=ISS, audience=AUD,
                             now=int(time.time()))
    except Unauthorized as exc:
        return exc.message


def _cases(private: str, public: str) -> dict[str, str]:
    es = {"alg": "ES256", "typ": "JWT"}
    now = int(time.time())
    other_private, _ = generate_key_pair()
    good = _sign(private, es, _claims())
    head, body, sig = good.split(".")
    hs_head = _b64(b'{"alg":"HS256","typ":"JWT"}')
    hs_body = _b64(json.dumps(_claims()).encode())
    hs_mac = hmac.new(public.encode(), f"{hs_head}.{hs_body}".encode(), hashlib.sha256).digest()
    none_head = _b64(b'{"alg":"none"}')
    changed = _b64(json.dumps(_claims(role="admin", sub="2")).encode())
    cases = {
        "valid": good,
        "issued by python-jose": jwt.encode(_claims(), private, algorithm="ES256"),
        "expired": _sign(private, es, _claims(exp=now - 100)),
        "exp a numeric string": _sign(private, es, _claims(exp=str(now + 100))),
        "exp not a number": _sign(private, es, _claims(exp="soon")),
        "iat not a number": _sign(private, es, _claims(iat="then")),
        "iat not a number and expired": _sign(private, es, _claims(iat="x", exp=now - 100)),
        "nbf in the future": _sign(private, es, _claims(nbf=now + 100)),
        "nbf in the past": _sign(private, es, _claims(nbf=now - 100)),
        "aud a list with ours": _sign(private, es, _claims(aud=["x", AUD])),
        "aud a list without ours": _sign(private, es, _claims(aud=["x", "y"])),
        "aud a number": _sign(private, es, _claims(aud=5)),
        "aud a list with a number": _sign(private, es, _claims(aud=[AUD, 5])),
        "no aud": _sign(private, es, {k: v for k, v in _claims().items() if k != "aud"}),
        "another iss": _sign(private, es, _claims(iss="evil")),
        "no iss": _sign(private, es, {k: v for k, v in _claims().items() if k != "iss"}),
        "sub a number": _sign(private, es, _claims(sub=1)),
        "jti a number": _sign(private, es, _claims(jti=1)),
        "at_hash": _sign(private, es, _claims(at_hash="abc")),
        "payload a list": _sign(private, es, [1, 2]),
        "another key": _sign(other_private, es, _claims()),
        "payload changed": f"{head}.{changed}.{sig}",
        "signature cut short": f"{head}.{body}.{_b64(base64.urlsafe_b64decode(sig + '==')[:63])}",
        "no signature": f"{head}.{body}.",
        "two segments": f"{head}.{body}",
        "alg none": f"{none_head}.{body}.",
        "alg HS256 with the public key": f"{hs_head}.{hs_body}.{_b64(hs_mac)}",
        "alg ES384 header": _sign(private, {"alg": "ES384"}, _claims()),
        "no alg": _sign(private, {"typ": "JWT"}, _claims()),
    }
    for missing in ("exp", "iat", "sub", "jti"):
        cases[f"no {missing}"] = _sign(
            private, es, {k: v for k, v in _claims().items() if k != missing}
        )
    return cases


def test_direct_verifier_answers_as_python_jose_did(jwt_keys: tuple[str, str]) -> None:
    private, public = jwt_keys
    cases = _cases(private, public)
    differ = {
        name: (ours, jose)
        for name, token in cases.items()
        if (ours := _our_outcome(token, public)) != (jose := _jose_outcome(token, public))
    }
    # The one deliberate difference: `aud` is required (see the next test).
    assert set(differ) == {"no aud"}
    answers = {name: _our_outcome(token, public) for name, token in cases.items()}
    accepted = {name for name, answer in answers.items() if isinstance(answer, dict)}
    assert accepted == {
        "valid", "issued by python-jose", "exp a numeric string", "nbf in the past",
        "aud a list with ours",
    }
    assert answers["expired"] == "token expired"


def test_direct_verifier_refuses_what_python_jose_let_through(jwt_keys: tuple[str, str]) -> None:
    """Stricter on three points: a `crit` header (RFC 7515 4.1.11: nothing here understands an
    extension), segments outside the base64url alphabet, and a token without `aud` (every token
    we issue names its audience; one without it was minted for something else)."""
    private, public = jwt_keys
    no_aud = _sign(private, {"alg": "ES256"}, {k: v for k, v in _claims().items() if k != "aud"})
    assert isinstance(_jose_outcome(no_aud, public), dict)
    assert _our_outcome(no_aud, public) == "invalid token"
    crit = _sign(private, {"alg": "ES256", "crit": ["exp"]}, _claims())
    assert isinstance(_jose_outcome(crit, public), dict)
    assert _our_outcome(crit, public) == "invalid token"
    head, body, sig = _sign(private, {"alg": "ES256"}, _claims()).split(".")
    assert _our_outcome(f"{head}.{body}.{sig}!", public) == "invalid token"


def test_a_public_key_that_is_not_p256_is_a_config_error() -> None:
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = rsa_pem.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(ConfigError):
        TokenVerifier(pem, issuer=ISS, audience=AUD)
    with pytest.raises(ConfigError):
        TokenVerifier("not a pem", issuer=ISS, audience=AUD)
