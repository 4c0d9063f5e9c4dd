"""Verifying and parsing what Cloudflare sends to `POST /webhooks/cloudflare-stream`.

Two senders share the route:

- Stream's own webhook (video ready / error) signs `time + "." + body` with HMAC-SHA256 and sends
  `Webhook-Signature: time=<unix>,sig1=<hex>`. We refuse a bad signature, a `time` more than the
  tolerance (5 minutes) away from our clock, and a signature seen before (replay).
- Notifications (live input connected/disconnected) carry no signature, only the destination's
  shared secret in `cf-webhook-auth`; their body has `ts` (unix seconds) and `data.updated_at`.
  We compare the secret in constant time, refuse stale `ts` and refuse a repeat of the same
  (input, event, updated_at).

Replay protection is a Redis `SET NX` per delivery with a TTL a little past the tolerance: after
that the timestamp check alone refuses it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import redis.asyncio as aioredis

from shared.errors import AppError
from shared.jsonbounds import JsonTooDeep, check_depth

_UNIX_TIME = re.compile(r"[0-9]{1,12}")


class WebhookRejected(AppError):
    status = 400
    code = "invalid_webhook"
    message = "webhook rejected"


SignalKind = Literal["connected", "disconnected", "ready", "error"]


@dataclass(frozen=True)
class StreamSignal:
    """One normalised fact from Cloudflare about a live input or its recording."""

    kind: SignalKind
    live_input_uid: str
    video_uid: str | None = None


def _parse_signature_header(header: str) -> tuple[int, str]:
    parts: dict[str, str] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts[key] = value
    at, sig = parts.get("time", ""), parts.get("sig1")
    # Unix seconds: at most 12 digits. A longer number is no timestamp, and must not reach float
    # arithmetic (a 400-digit int overflows it).
    if sig is None or not _UNIX_TIME.fullmatch(at):
        raise WebhookRejected("malformed Webhook-Signature", code="invalid_signature")
    return int(at), sig


def sign_stream_webhook(secret: str, body: bytes, at: int) -> str:
    """The header value Cloudflare Stream sends (`time=<t>,sig1=<hex HMAC-SHA256 of "<t>.<body>">`);
    pinned by a known-answer test (tests/commerce/streams/test_cloudflare_signature_kat.py)."""
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"time={at},sig1={mac}"


def _check_fresh(at: int, now: float, tolerance_s: int) -> None:
    if abs(int(now) - at) > tolerance_s:  # integer arithmetic: no float overflow for any `at`
        raise WebhookRejected("webhook timestamp outside the allowed window", code="stale_webhook")


async def _once(redis: aioredis.Redis, key: str, ttl_s: int) -> None:
    if not await redis.set(f"cfwh:{key}", "1", nx=True, ex=ttl_s):
        raise WebhookRejected("webhook already received", code="replayed_webhook")


def _json(body: bytes) -> dict[str, Any]:
    try:
        check_depth(body)
        parsed = orjson.loads(body)
    except (JsonTooDeep, orjson.JSONDecodeError):
        raise WebhookRejected("body is not JSON", code="malformed_json") from None
    if not isinstance(parsed, dict):
        raise WebhookRejected("body is not a JSON object", code="malformed_json")
    return parsed


async def verify(
    *,
    redis: aioredis.Redis,
    headers: dict[str, str],
    body: bytes,
    stream_secret: str,
    notification_secret: str,
    tolerance_s: int,
    now: float | None = None,
) -> StreamSignal | None:
    """Authenticate one delivery and turn it into a signal (None: nothing we act on).

    `headers` must have lower-case keys. Raises `WebhookRejected` (400) for anything forged,
    stale, replayed or malformed; the caller changes nothing in that case.
    """
    now = time.time() if now is None else now
    replay_ttl = tolerance_s * 2 + 60
    if "webhook-signature" in headers:
        at, sig = _parse_signature_header(headers["webhook-signature"])
        expected = sign_stream_webhook(stream_secret, body, at).rpartition("sig1=")[2]
        if not hmac.compare_digest(expected, sig.lower()):
            raise WebhookRejected("signature mismatch", code="invalid_signature")
        _check_fresh(at, now, tolerance_s)
        await _once(redis, f"sig:{sig.lower()}", replay_ttl)
        return _video_signal(_json(body))
    if "cf-webhook-auth" in headers:
        if not hmac.compare_digest(
            headers["cf-webhook-auth"].encode(), notification_secret.encode()
        ):
            raise WebhookRejected("bad cf-webhook-auth", code="invalid_signature")
        payload = _json(body)
        data = payload.get("data")
        ts = payload.get("ts")
        if not isinstance(data, dict) or not isinstance(ts, int) or isinstance(ts, bool):
            raise WebhookRejected("not a Stream live input notification", code="invalid_payload")
        _check_fresh(ts, now, tolerance_s)
        input_id, event_type = data.get("input_id"), data.get("event_type")
        if not isinstance(input_id, str) or not isinstance(event_type, str):
            raise WebhookRejected(
                "notification without input_id/event_type", code="invalid_payload"
            )
        delivery = f"{input_id}|{event_type}|{data.get('updated_at')}|{ts}"
        await _once(redis, "n:" + hashlib.sha256(delivery.encode()).hexdigest(), replay_ttl)
        kind = {
            "live_input.connected": "connected",
            "live_input.disconnected": "disconnected",
            "live_input.errored": "error",
        }.get(event_type)
        if kind is None:
            return None
        return StreamSignal(kind=kind, live_input_uid=input_id)  # type: ignore[arg-type]
    raise WebhookRejected("unsigned webhook", code="invalid_signature")


def _video_signal(video: dict[str, Any]) -> StreamSignal | None:
    """A video webhook: only recordings of a live input (`liveInput` set) concern streams."""
    live_input = video.get("liveInput")
    uid = video.get("uid")
    status = video.get("status") if isinstance(video.get("status"), dict) else {}
    if not isinstance(live_input, str) or not live_input or not isinstance(uid, str):
        return None
    state = status.get("state") if status else None
    if state == "ready" or (state is None and video.get("readyToStream") is True):
        return StreamSignal(kind="ready", live_input_uid=live_input, video_uid=uid)
    if state == "error":
        return StreamSignal(kind="error", live_input_uid=live_input, video_uid=uid)
    return None
