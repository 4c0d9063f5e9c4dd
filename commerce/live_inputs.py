"""Cloudflare Stream live inputs behind one small interface, with an in-process stand-in.

`CloudflareStream` speaks the REST API (`/accounts/{id}/stream/live_inputs`) through httpx and
unwraps the documented envelope `{success, errors, messages, result}`. Without an API token (the
embedded default, `make run`) `LocalLiveInputs` answers the same calls in memory, so streams can
be created and played with locally configured ingest URLs; nothing else in the code base knows
which one it talks to. Below the domains, so `AppContext.build` builds the one provider of a
context (`build_live_inputs`, the typed field `ctx.live_inputs`).

Live inputs are created with `recording.mode = "automatic"`: Cloudflare records every broadcast
as a video, whose `video-ready` webhook then becomes the stream's VOD.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import httpx
import orjson
import redis.asyncio as aioredis
import structlog

from shared.errors import NotFound, Unavailable
from shared.settings import CommerceSettings
from shared.tls import client_tls

log = structlog.get_logger(__name__)


class CloudflareError(Unavailable):
    message = "the video provider failed"

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        super().__init__(message, code="stream_provider_error", details=details)


@dataclass(frozen=True)
class LiveInput:
    """What we keep of a live input: ingest credentials and the connection state."""

    uid: str
    ingest: dict[str, str]
    state: str | None = None  # "connected" / "disconnected" / None (never connected)
    state_since: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_result(cls, result: dict[str, Any]) -> LiveInput:
        rtmps = result.get("rtmps") or {}
        srt = result.get("srt") or {}
        webrtc = result.get("webRTC") or {}
        webrtc_play = result.get("webRTCPlayback") or {}
        ingest = {
            "rtmps_url": rtmps.get("url", ""),
            "stream_key": rtmps.get("streamKey", ""),
            "srt_url": srt.get("url", ""),
            "srt_stream_id": srt.get("streamId", ""),
            "srt_passphrase": srt.get("passphrase", ""),
            "whip_url": webrtc.get("url", ""),
            "whep_url": webrtc_play.get("url", ""),
        }
        state, since = _current_state(result.get("status"))
        return cls(
            uid=str(result["uid"]), ingest=ingest, state=state, state_since=since, raw=result
        )


def _current_state(status: Any) -> tuple[str | None, datetime | None]:
    """`status` is null until first connect, then `{current: {state, statusEnteredAt}, ...}`."""
    if not isinstance(status, dict):
        return None, None
    current = status.get("current")
    if not isinstance(current, dict):
        current = status
    state = current.get("state")
    since = current.get("statusEnteredAt")
    entered = None
    if isinstance(since, str):
        try:
            entered = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            entered = None
    return (state if isinstance(state, str) else None), entered


class LiveInputProvider(Protocol):
    async def create_live_input(
        self, *, name: str, meta: dict[str, str], require_signed_urls: bool
    ) -> LiveInput: ...

    async def get_live_input(self, uid: str) -> LiveInput: ...

    async def delete_live_input(self, uid: str) -> None: ...


class CloudflareStream:
    """The real API (or the test fake, which speaks the same wire format)."""

    def __init__(
        self, settings: CommerceSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        assert settings.streams.cloudflare.api_token is not None
        self._base = (
            f"{settings.streams.cloudflare.api_base.rstrip('/')}/accounts/"
            f"{settings.streams.cloudflare.account_id}/stream"
        )
        self._headers = {
            "Authorization": f"Bearer {settings.streams.cloudflare.api_token.get_secret_value()}"
        }
        self._timeout = settings.streams.cloudflare.api_timeout_s
        self._transport = transport

    async def _call(self, method: str, path: str, json: Any = None) -> Any:
        # A client per call: these are rare admin calls (create/end/poll), not a hot path.
        async with httpx.AsyncClient(
            headers=self._headers, timeout=self._timeout, transport=self._transport,
            verify=client_tls(),
        ) as client:
            try:
                response = await client.request(method, f"{self._base}{path}", json=json)
            except httpx.HTTPError as exc:
                log.warning("cloudflare_unreachable", path=path, error=str(exc))
                raise CloudflareError("the video provider is unreachable") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 404:
            raise NotFound("live input not found")
        if not isinstance(body, dict) or not body.get("success") or response.is_error:
            errors = body.get("errors") if isinstance(body, dict) else None
            log.warning("cloudflare_error", path=path, status=response.status_code, errors=errors)
            raise CloudflareError(details={"provider_errors": errors or []})
        return body.get("result")

    async def create_live_input(
        self, *, name: str, meta: dict[str, str], require_signed_urls: bool
    ) -> LiveInput:
        result = await self._call(
            "POST",
            "/live_inputs",
            {
                "meta": {"name": name, **meta},
                "recording": {
                    "mode": "automatic",
                    "requireSignedURLs": require_signed_urls,
                    "timeoutSeconds": 0,
                },
            },
        )
        return LiveInput.from_result(result)

    async def get_live_input(self, uid: str) -> LiveInput:
        return LiveInput.from_result(await self._call("GET", f"/live_inputs/{uid}"))

    async def delete_live_input(self, uid: str) -> None:
        await self._call("DELETE", f"/live_inputs/{uid}")


class LocalLiveInputs:
    """The stream provider's sandbox (development only): same calls, local ingest URLs.

    Nothing actually ingests video here; the URLs point at where a local media server (e.g.
    MediaMTX on :1935/:8890/:8889) would listen, so an OBS profile can be tried against one.
    The encoder's connection state is whatever `set_state` last said (the sandbox route, see
    `commerce/sandbox/streams.py`), reported as Cloudflare reports `status.current`. Inputs are
    kept in Redis (the embedded stand-in on `make run`), so every API process, the beat and the
    workers see the same ones, as they would see Cloudflare's.
    """

    PREFIX = "sandbox:streams:input:"
    TTL_S = 30 * 24 * 3600

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def _save(self, live: LiveInput) -> None:
        record = {
            "uid": live.uid, "ingest": live.ingest, "state": live.state,
            "state_since": live.state_since.isoformat() if live.state_since else None,
            "raw": live.raw,
        }
        await self._redis.set(self.PREFIX + live.uid, orjson.dumps(record), ex=self.TTL_S)

    async def create_live_input(
        self, *, name: str, meta: dict[str, str], require_signed_urls: bool
    ) -> LiveInput:
        uid = secrets.token_hex(16)
        key = secrets.token_hex(16)
        live = LiveInput(
            uid=uid,
            ingest={
                "rtmps_url": "rtmps://127.0.0.1:1936/live/",
                "stream_key": key,
                "srt_url": "srt://127.0.0.1:8890",
                "srt_stream_id": uid,
                "srt_passphrase": secrets.token_hex(16),
                "whip_url": f"http://127.0.0.1:8889/{uid}/whip",
                "whep_url": f"http://127.0.0.1:8889/{uid}/whep",
            },
            raw={
                "uid": uid,
                "meta": {"name": name, **meta},
                "created": datetime.now(UTC).isoformat(),
            },
        )
        await self._save(live)
        return live

    async def get_live_input(self, uid: str) -> LiveInput:
        raw = await self._redis.get(self.PREFIX + uid)
        if raw is None:
            raise NotFound("live input not found")
        record = orjson.loads(raw)
        since = record.get("state_since")
        return LiveInput(
            uid=record["uid"], ingest=record["ingest"], state=record.get("state"),
            state_since=datetime.fromisoformat(since) if since else None, raw=record["raw"],
        )

    async def delete_live_input(self, uid: str) -> None:
        await self._redis.delete(self.PREFIX + uid)

    async def set_state(self, uid: str, state: Literal["connected", "disconnected"]) -> LiveInput:
        """Record the encoder's new state, as Cloudflare would after an encoder (dis)connects."""
        live = await self.get_live_input(uid)
        updated = replace(live, state=state, state_since=datetime.now(UTC))
        await self._save(updated)
        return updated

    def playback_urls(self, uid: str) -> dict[str, str]:
        """Nothing ingests locally: the stream sandbox's looping test stream stands in
        (`commerce/sandbox/video.py`; a path on the API itself, as the pages use it)."""
        return {"hls_url": f"/api/v1/sandbox/video/{uid}/live.m3u8", "dash_url": ""}



def build_live_inputs(settings: CommerceSettings, redis: aioredis.Redis) -> LiveInputProvider:
    """The provider these settings name: Cloudflare's API, or the local sandbox
    (`stream_sandbox`)."""
    if not settings.streams.sandbox:
        return CloudflareStream(settings)
    log.info("stream_provider_sandbox", reason="no Cloudflare credentials")
    return LocalLiveInputs(redis)


def playback_urls(settings: CommerceSettings, video_or_input_uid: str) -> dict[str, str]:
    """HLS/DASH manifests: a live input's uid plays its live broadcast, a video's uid the VOD."""
    host = settings.streams.cloudflare.customer_subdomain
    base = f"https://{host}/{video_or_input_uid}"
    return {
        "hls_url": f"{base}/manifest/video.m3u8",
        "dash_url": f"{base}/manifest/video.mpd",
    }
