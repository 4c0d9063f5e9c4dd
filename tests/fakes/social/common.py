"""Shared pieces of the fake providers: an aiohttp server on a free port and signing keys.

`FakeServer` runs in the test's event loop (`async with FakeGoogle() as google:`), binds port 0
so the OS picks a free port, counts requests per path, and can be told to answer slowly
(`delay_s`) or with an error status (`fail_status`) to exercise timeouts and outages.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk, jwt


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_pem: str
    public_jwk: dict[str, Any]

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        return jwt.encode(
            claims, self.private_pem, algorithm=self.alg, headers={"kid": self.kid, **headers}
        )


@functools.cache
def _private_pem(alg: str, slot: int) -> str:
    """Key material is slow to make (RSA): one per (algorithm, slot) per test process."""
    key: Any = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if alg.startswith("RS")
        else ec.generate_private_key(ec.SECP256R1())
    )
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def make_key(alg: str = "RS256", slot: int = 0, kid: str | None = None) -> SigningKey:
    private = _private_pem(alg, slot)
    public = jwk.construct(private, alg).public_key().to_dict()
    kid = kid or f"{alg.lower()}-{slot}-{uuid.uuid4().hex[:8]}"
    public_jwk = {k: v for k, v in public.items()} | {"kid": kid, "use": "sig", "alg": alg}
    return SigningKey(kid=kid, alg=alg, private_pem=private, public_jwk=public_jwk)


def now() -> int:
    return int(time.time())


class FakeServer:
    """Base of every fake: subclasses add routes to `self.app` in `__init__`."""

    def __init__(self) -> None:
        self.app = web.Application(middlewares=[self._middleware])
        self.hits: Counter[str] = Counter()
        self.delay_s = 0.0
        self.fail_status: int | None = None
        self.url = ""
        self._runner: web.AppRunner | None = None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.hits[request.path] += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_status is not None:
            return web.Response(
                status=self.fail_status,
                text="<html>upstream error</html>",
                content_type="text/html",
            )
        response: web.StreamResponse = await handler(request)
        return response

    async def __aenter__(self) -> Self:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def jwks_response(keys: list[SigningKey], max_age: int) -> web.Response:
    """A JWKS document with the caching header the real providers send."""
    return web.json_response(
        {"keys": [k.public_jwk for k in keys]},
        headers={"Cache-Control": f"public, max-age={max_age}, must-revalidate, no-transform"},
    )
