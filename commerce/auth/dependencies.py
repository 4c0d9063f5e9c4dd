"""Request facts the auth routes need beyond the body."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request


def client_ip(request: Request) -> str:
    """The caller's address for per-address limits. uvicorn's proxy-headers middleware has
    already replaced the socket peer with the X-Forwarded-For client when the peer is one of
    `trusted_proxies` (nginx), so a client cannot pick its own bucket by sending the header."""
    return request.client.host if request.client else "unknown"


ClientIP = Annotated[str, Depends(client_ip)]
