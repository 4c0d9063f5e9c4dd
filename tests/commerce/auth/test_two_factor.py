"""2FA over the API: enrol with a QR code, confirm, log in in two steps, recovery codes, disable.
Codes are computed the way an authenticator app does (RFC 6238, pyotp); RFC 6238's own test
vector pins the algorithm."""

from __future__ import annotations

import asyncio
import base64
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from sqlalchemy import select

from commerce.auth import totp
from commerce.auth.models import RecoveryCode, TotpCredential
from commerce.context import AppContext
from tests.commerce.auth.helpers import PASSWORD, bearer, register

LOGIN = "/api/v1/auth/login"


def test_rfc6238_known_answer() -> None:
    # RFC 6238 Appendix B, SHA-1 seed "12345678901234567890", T = 59 s -> 94287082 (8 digits).
    seed = base64.b32encode(b"12345678901234567890").decode()
    assert pyotp.TOTP(seed, digits=8).at(59) == "94287082"
    assert pyotp.TOTP(seed, digits=8).at(1111111109) == "07081804"
    # Our check accepts the 6-digit code of the step, one step of drift, nothing further.
    code = pyotp.TOTP(seed).at(1111111109)
    assert totp.matching_step(seed, code, now=1111111109) == 1111111109 // 30
    assert totp.matching_step(seed, code, now=1111111109 + 30) == 1111111109 // 30
    assert totp.matching_step(seed, code, now=1111111109 + 90) is None
    assert totp.matching_step(seed, "12345a", now=1111111109) is None


async def _enable(api: httpx.AsyncClient) -> tuple[dict, str, list[str]]:
    """A registered user with 2FA on: (signup body, secret, recovery codes)."""
    user = await register(api)
    auth = bearer(user["access_token"])
    enrolled = await api.post("/api/v1/auth/2fa/enroll", headers=auth)
    assert enrolled.status_code == 201, enrolled.text
    body = enrolled.json()
    uri = urlsplit(body["otpauth_uri"])
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    assert parse_qs(uri.query)["secret"] == [body["secret"]]
    assert base64.b64decode(body["qr_png_base64"]).startswith(b"\x89PNG\r\n\x1a\n")
    # Not on until confirmed: login still answers tokens.
    plain = await api.post(LOGIN, json={"email": user["user"]["email"], "password": PASSWORD})
    assert "access_token" in plain.json()
    wrong = await api.post("/api/v1/auth/2fa/confirm", json={"code": "000000"}, headers=auth)
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_two_factor_code"
    code = pyotp.TOTP(body["secret"]).now()
    confirmed = await api.post("/api/v1/auth/2fa/confirm", json={"code": code}, headers=auth)
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return user, body["secret"], codes


async def _challenge(api: httpx.AsyncClient, email: str) -> str:
    step1 = await api.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert step1.status_code == 200
    body = step1.json()
    assert body["two_factor_required"] is True and "access_token" not in body
    return str(body["challenge_token"])


def _next_code(secret: str) -> str:
    """A code of the next step (accepted: one step of drift), unused so far."""
    return pyotp.TOTP(secret).at(time.time() + 30)


async def test_enrol_confirm_and_log_in_in_two_steps(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    user, secret, codes = await _enable(api)
    email = user["user"]["email"]
    async with ctx.sessions() as session:
        stored = await session.get(TotpCredential, user["user"]["id"])
        assert stored is not None and secret not in stored.secret_enc  # encrypted at rest
        hashes = set(await session.scalars(select(RecoveryCode.code_hash)))
        assert len(hashes) == 10 and not hashes & set(codes)  # digests, not the codes
    token = await _challenge(api, email)
    # The code used to confirm is spent: the same (or an older) step is refused.
    replay = await api.post("/api/v1/auth/2fa/verify", json={
        "challenge_token": token, "code": pyotp.TOTP(secret).now()})
    assert replay.status_code == 401
    ok = await api.post("/api/v1/auth/2fa/verify", json={
        "challenge_token": token, "code": _next_code(secret)})
    assert ok.status_code == 200, ok.text
    me = await api.get("/api/v1/users/me", headers=bearer(ok.json()["access_token"]))
    assert me.json()["email"] == email
    # The challenge is spent by its success.
    again = await api.post("/api/v1/auth/2fa/verify", json={
        "challenge_token": token, "recovery_code": codes[0]})
    assert again.status_code == 401 and again.json()["error"]["code"] == "invalid_challenge"
    status = await api.get("/api/v1/auth/2fa", headers=bearer(ok.json()["access_token"]))
    assert status.json() == {"enabled": True, "recovery_codes_left": 10}


async def test_recovery_codes_work_once(api: httpx.AsyncClient) -> None:
    user, _, codes = await _enable(api)
    email = user["user"]["email"]
    first = await api.post("/api/v1/auth/2fa/verify", json={
        "challenge_token": await _challenge(api, email), "recovery_code": codes[3].upper()})
    assert first.status_code == 200, first.text
    reused = await api.post("/api/v1/auth/2fa/verify", json={
        "challenge_token": await _challenge(api, email), "recovery_code": codes[3]})
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "invalid_two_factor_code"


async def test_a_challenge_takes_few_tries_and_expires(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    user, secret, _ = await _enable(api)
    token = await _challenge(api, user["user"]["email"])
    for _ in range(ctx.settings.two_factor_max_attempts):
        wrong = await api.post("/api/v1/auth/2fa/verify", json={
            "challenge_token": token, "code": "000000"})
        assert wrong.status_code == 401
    spent = await api.post("/api/v1/auth/2fa/verify", json={
        "challenge_token": token, "code": _next_code(secret)})
    assert spent.json()["error"]["code"] == "invalid_challenge"
    forged = await api.post("/api/v1/auth/2fa/verify", json={
        "challenge_token": "x" * 43, "code": _next_code(secret)})
    assert forged.json()["error"]["code"] == "invalid_challenge"


async def test_concurrent_answers_to_one_challenge_open_one_session(
    api: httpx.AsyncClient,
) -> None:
    user, secret, codes = await _enable(api)
    token = await _challenge(api, user["user"]["email"])
    verify = "/api/v1/auth/2fa/verify"
    answers = await asyncio.gather(
        api.post(verify, json={"challenge_token": token, "code": _next_code(secret)}),
        *(api.post(verify, json={"challenge_token": token, "recovery_code": c})
          for c in codes[:3]),
    )
    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401], [a.text for a in answers]


@pytest.mark.parametrize(
    "body",
    [{}, {"challenge_token": "x" * 43}, {"challenge_token": "x" * 43, "code": "12345"},
     {"challenge_token": "x" * 43, "code": "123456", "recovery_code": "abcde-fghjk"},
     {"challenge_token": "x" * 43, "code": 123456}],
)
async def test_bad_verify_bodies_are_422(api: httpx.AsyncClient, body: dict) -> None:
    response = await api.post("/api/v1/auth/2fa/verify", json=body)
    assert response.status_code == 422


async def test_disable_needs_a_fresh_totp_code(api: httpx.AsyncClient) -> None:
    user, secret, _ = await _enable(api)
    auth = bearer(user["access_token"])
    assert (await api.post("/api/v1/auth/2fa/enroll", headers=auth)).status_code == 409
    stale = await api.post("/api/v1/auth/2fa/disable", json={"code": pyotp.TOTP(secret).now()},
                           headers=auth)
    assert stale.status_code == 401  # the confirming code's step was already used
    off = await api.post("/api/v1/auth/2fa/disable", json={"code": _next_code(secret)},
                         headers=auth)
    assert off.status_code == 204
    plain = await api.post(LOGIN, json={"email": user["user"]["email"], "password": PASSWORD})
    assert "access_token" in plain.json()
    status = await api.get("/api/v1/auth/2fa", headers=auth)
    assert status.json() == {"enabled": False, "recovery_codes_left": 0}
    assert (await api.post("/api/v1/auth/2fa/disable", json={"code": "123456"},
                           headers=auth)).status_code == 409
