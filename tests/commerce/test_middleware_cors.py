"""The API's CORS middleware (commerce.middleware.CORSMiddleware) answers exactly as Starlette's
does, for requests without an `Origin` (its short way) and with one (Starlette's own code),
preflights included: same status, same headers in the same order, same body."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.middleware.cors import CORSMiddleware as StarletteCORS

from commerce.middleware import CORSMiddleware

Headers = list[tuple[bytes, bytes]]

ANSWER_HEADERS = [
    [(b"content-type", b"application/json")],
    [(b"vary", b"Accept-Encoding"), (b"content-type", b"application/json")],
    [(b"vary", b"Accept"), (b"content-type", b"text/plain"), (b"vary", b"Cookie")],
]
REQUESTS = [
    ("POST", []),
    ("POST", [(b"authorization", b"Bearer x"), (b"content-type", b"application/json")]),
    ("GET", [(b"origin", b"https://shop.example")]),
    ("GET", [(b"origin", b"https://elsewhere.example")]),
    ("OPTIONS", [(b"origin", b"https://shop.example"),
                 (b"access-control-request-method", b"POST"),
                 (b"access-control-request-headers", b"authorization, idempotency-key")]),
    ("OPTIONS", []),
]


async def _answer(cls: type[StarletteCORS], answer: Headers, method: str, request: Headers,
                  origins: list[str]) -> list[dict[str, Any]]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(answer)})
        await send({"type": "http.response.body", "body": b"ok"})

    middleware = cls(app, allow_origins=origins, allow_credentials="*" not in origins,
                     allow_methods=["*"], allow_headers=["*"],
                     expose_headers=["X-Request-ID", "Retry-After"])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/api/v1/orders", "headers": request,
             "query_string": b"", "root_path": "", "scheme": "http"}
    await middleware(scope, receive, send)
    return sent


@pytest.mark.parametrize("origins", [["https://shop.example"], ["*"]])
@pytest.mark.parametrize(("method", "request_headers"), REQUESTS)
@pytest.mark.parametrize("answer", ANSWER_HEADERS)
async def test_the_same_answer_as_starlettes(
    origins: list[str], method: str, request_headers: Headers, answer: Headers
) -> None:
    ours = await _answer(CORSMiddleware, answer, method, request_headers, origins)
    theirs = await _answer(StarletteCORS, answer, method, request_headers, origins)
    assert ours == theirs


async def test_an_answer_to_a_request_without_origin_varies_by_origin() -> None:
    [start, _] = await _answer(CORSMiddleware, ANSWER_HEADERS[2], "POST", [], ["*"])
    assert start["headers"] == [(b"vary", b"Accept, Cookie, Origin"),
                                (b"content-type", b"text/plain")]
