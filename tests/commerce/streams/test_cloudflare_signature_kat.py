"""Known-answer test for Cloudflare Stream's webhook signature, pinning our verifier and the test
fake (which signs with its own code) to one vector computed outside Python.

Inputs are the example values of Cloudflare's documentation (developers.cloudflare.com/stream/
webhooks: the webhook secret `85011ed3a913c6ad5f9cf6c5573cc0a7`, `time=1230811200`, the example
"ready" body, here compact). The expected MAC was computed with OpenSSL:

    printf '%s' '1230811200.<BODY>' | openssl dgst -sha256 -hmac 85011ed3a913c6ad5f9cf6c5573cc0a7
"""

from __future__ import annotations

import pytest

from commerce.context import AppContext
from commerce.streams.webhooks import WebhookRejected, sign_stream_webhook, verify
from tests.fakes.cloudflare_stream import stream_signature

SECRET = "85011ed3a913c6ad5f9cf6c5573cc0a7"
AT = 1230811200
BODY = (
    b'{"uid":"dd5d531a12de0c724bd1275a3b2bc9c6","readyToStream":true,"status":{"state":"ready"},'
    b'"meta":{},"created":"2019-01-01T01:00:00.474936Z","modified":"2019-01-01T01:02:21.076571Z"}'
)
EXPECTED = "c0de87883bf07dbc0333fd1d7017605b5a3b98d45f0fb6a1fde8bae51bf05cdd"
HEADER = f"time={AT},sig1={EXPECTED}"


def test_fake_and_signer_produce_the_known_answer() -> None:
    assert stream_signature(SECRET, BODY, AT) == HEADER
    assert sign_stream_webhook(SECRET, BODY, AT) == HEADER


async def test_verifier_accepts_the_known_answer_and_nothing_near_it(ctx: AppContext) -> None:
    async def check(header: str, body: bytes = BODY) -> None:
        await verify(
            redis=ctx.redis, headers={"webhook-signature": header}, body=body,
            stream_secret=SECRET, notification_secret="unused", tolerance_s=300, now=AT + 10,
        )

    await check(HEADER)  # the documented example body has no liveInput: nothing to act on
    flipped = EXPECTED[:-1] + ("0" if EXPECTED[-1] != "0" else "1")
    for header, body in [
        (f"time={AT},sig1={flipped}", BODY),
        (f"time={AT + 1},sig1={EXPECTED}", BODY),
        (HEADER, BODY.replace(b"ready", b"Ready", 1)),
    ]:
        with pytest.raises(WebhookRejected):
            await check(header, body)
