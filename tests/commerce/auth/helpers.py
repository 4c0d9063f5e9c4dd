"""Shared steps of the auth and profile tests: sign up through the real route."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

PASSWORD = "correct horse battery staple"
_serial = itertools.count(1)


def new_email() -> str:
    return f"user{next(_serial)}@example.test"


async def register(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """POST /auth/register with sensible defaults; asserts the 201 and returns the body."""
    body = {"email": new_email(), "password": PASSWORD, "display_name": "Mei", **fields}
    response = await api.post("/api/v1/auth/register", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
