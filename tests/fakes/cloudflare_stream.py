"""A local fake of the Cloudflare Stream API, served over real HTTP on a free port.

It speaks the documented envelope `{success, errors, messages, result}` for
`/client/v4/accounts/{account}/stream/live_inputs[/{uid}]` (create, get, list, delete) and
`/stream[/{video_uid}]` (videos), checks the Bearer token, and builds what Cloudflare would send
us: live-input Notifications authenticated by `cf-webhook-auth`, and the video-ready webhook
signed `Webhook-Signature: time=...,sig1=HMAC-SHA256(secret, time.body)`.

Control methods (`connect`, `disconnect`, `record`) change the fake's state the way a broadcaster
would; `notification()` / `video_webhook()` return the (headers, body) of a delivery so a test
can send it as is, tamper with it, or send it twice.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers.procs import free_port

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "fake-cf-api-token"
STREAM_SECRET = "85011ed3a913c6ad5f9cf6c5573cc0a7"
NOTIFICATION_SECRET = "fake-notification-destination-secret"
CUSTOMER_HOST = "customer-f33zs165nr7gyfy4.cloudflarestream.com"


def stream_signature(secret: str, body: bytes, at: int) -> str:
    """The `Webhook-Signature` Cloudflare Stream sends, written here from its documentation
    (developers.cloudflare.com/stream/webhooks, "Verify webhook authenticity"): HMAC-SHA256,
    keyed with the webhook secret, over `<time>.<body>`, hex; header `time=<time>,sig1=<hex>`.
    Deliberately not our verifier's code, so a wrong verifier cannot agree with a wrong fake;
    `tests/commerce/streams/test_cloudflare_signature_kat.py` pins both to a fixed vector."""
    mac = hmac.new(secret.encode("utf-8"), str(at).encode("ascii") + b"." + body, hashlib.sha256)
    return f"time={at},sig1={mac.hexdigest()}"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _ok(result: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(
        {"success": True, "errors": [], "messages": [], "result": result}, status_code=status
    )


def _fail(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "success": False,
            "errors": [{"code": code, "message": message}],
            "messages": [],
            "result": None,
        },
        status_code=status,
    )


class FakeCloudflareStream:
    def __init__(self) -> None:
        self.inputs: dict[str, dict[str, Any]] = {}
        self.videos: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_next: int | None = None  # make the next API call answer this status
        self.base_url = ""
        self._lock = threading.Lock()
        prefix = "/client/v4/accounts/{account}/stream"
        self.app = Starlette(
            routes=[
                Route(f"{prefix}/live_inputs", self._inputs, methods=["GET", "POST"]),
                Route(f"{prefix}/live_inputs/{{uid}}", self._input, methods=["GET", "DELETE"]),
                Route(prefix, self._list_videos, methods=["GET"]),
                Route(f"{prefix}/{{uid}}", self._video, methods=["GET"]),
            ]
        )

    # --- HTTP side ----------------------------------------------------------------------

    def _guard(self, request: Request) -> JSONResponse | None:
        self.requests.append((request.method, request.url.path))
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _fail(401, 10000, "Authentication error")
        if request.path_params.get("account") != ACCOUNT:
            return _fail(403, 10000, "Authentication error")
        if self.fail_next is not None:
            status, self.fail_next = self.fail_next, None
            return _fail(status, 10002, "Internal error")
        return None

    async def _inputs(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        if request.method == "GET":
            with self._lock:
                keys = ("uid", "created", "modified", "meta", "deleteRecordingAfterDays")
                listed = [{k: v[k] for k in keys} for v in self.inputs.values()]
            return _ok({"liveInputs": listed, "range": len(listed), "total": len(listed)})
        body = orjson.loads(await request.body() or b"{}")
        uid = secrets.token_hex(16)
        key = secrets.token_hex(16) + uid
        created = _now_iso()
        result = {
            "uid": uid,
            "rtmps": {"url": "rtmps://live.cloudflare.com:443/live/", "streamKey": key},
            "rtmpsPlayback": {
                "url": "rtmps://live.cloudflare.com:443/live/",
                "streamKey": secrets.token_hex(16) + uid,
            },
            "srt": {
                "url": "srt://live.cloudflare.com:778",
                "streamId": uid,
                "passphrase": secrets.token_hex(16),
            },
            "srtPlayback": {
                "url": "srt://live.cloudflare.com:778",
                "streamId": "play" + uid,
                "passphrase": secrets.token_hex(16),
            },
            "webRTC": {"url": f"https://{CUSTOMER_HOST}/{key}/webRTC/publish"},
            "webRTCPlayback": {"url": f"https://{CUSTOMER_HOST}/{uid}/webRTC/play"},
            "created": created,
            "modified": created,
            "meta": body.get("meta", {}),
            "status": None,
            "recording": {
                "mode": "off",
                "requireSignedURLs": False,
                "allowedOrigins": None,
                "timeoutSeconds": 0,
                **body.get("recording", {}),
            },
            "deleteRecordingAfterDays": body.get("deleteRecordingAfterDays"),
            "enabled": True,
        }
        with self._lock:
            self.inputs[uid] = result
        return _ok(result, 201)

    async def _input(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        uid = request.path_params["uid"]
        with self._lock:
            found = self.inputs.get(uid)
            if found is None:
                return _fail(404, 10003, "Not Found")
            if request.method == "DELETE":
                del self.inputs[uid]
                return _ok(None)
            return _ok(found)

    async def _list_videos(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        with self._lock:
            return _ok(list(self.videos.values()))

    async def _video(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        found = self.videos.get(request.path_params["uid"])
        return _ok(found) if found else _fail(404, 10003, "Not Found")

    # --- broadcaster side ---------------------------------------------------------------

    def _set_state(self, uid: str, state: str, entered_at: str | None = None) -> None:
        with self._lock:
            at = entered_at or _now_iso()
            current = {"reason": state, "state": state, "statusEnteredAt": at, "statusLastSeen": at}
            prior = self.inputs[uid].get("status") or {"history": []}
            self.inputs[uid]["status"] = {
                "current": current,
                "history": [*prior["history"], current],
            }

    def connect(self, uid: str) -> None:
        self._set_state(uid, "connected")

    def disconnect(self, uid: str, *, entered_at: str | None = None) -> None:
        self._set_state(uid, "disconnected", entered_at)

    def record(self, uid: str) -> dict[str, Any]:
        """The recording of the last broadcast finished processing: a ready video."""
        video_uid = secrets.token_hex(16)
        video = {
            "uid": video_uid,
            "creator": None,
            "thumbnail": f"https://{CUSTOMER_HOST}/{video_uid}/thumbnails/thumbnail.jpg",
            "thumbnailTimestampPct": 0,
            "readyToStream": True,
            "status": {
                "state": "ready",
                "pctComplete": "100.000000",
                "errorReasonCode": "",
                "errorReasonText": "",
            },
            "meta": self.inputs[uid].get("meta", {}),
            "created": _now_iso(),
            "modified": _now_iso(),
            "size": 4190963,
            "preview": f"https://{CUSTOMER_HOST}/{video_uid}/watch",
            "allowedOrigins": [],
            "requireSignedURLs": self.inputs[uid]["recording"].get("requireSignedURLs", False),
            "uploaded": _now_iso(),
            "duration": 34.2,
            "input": {"width": 1920, "height": 1080},
            "playback": {
                "hls": f"https://{CUSTOMER_HOST}/{video_uid}/manifest/video.m3u8",
                "dash": f"https://{CUSTOMER_HOST}/{video_uid}/manifest/video.mpd",
            },
            "liveInput": uid,
        }
        self.videos[video_uid] = video
        return video

    # --- deliveries (what Cloudflare POSTs to us) ---------------------------------------

    def notification(
        self,
        uid: str,
        event_type: str,
        *,
        ts: int | None = None,
        secret: str = NOTIFICATION_SECRET,
    ) -> tuple[dict[str, str], bytes]:
        """A Notifications webhook for `live_input.connected` / `live_input.disconnected`."""
        updated = _now_iso()
        body = orjson.dumps(
            {
                "name": "Live commerce inputs",
                "text": (
                    f"Notification type: Stream Live Input\nInput ID: {uid}\n"
                    f"Event type: {event_type}\nUpdated at: {updated}"
                ),
                "data": {
                    "notification_name": "Stream Live Input",
                    "input_id": uid,
                    "event_type": event_type,
                    "updated_at": updated,
                },
                "ts": int(time.time()) if ts is None else ts,
            }
        )
        return {"cf-webhook-auth": secret, "content-type": "application/json"}, body

    def video_webhook(
        self, video: dict[str, Any], *, at: int | None = None, secret: str = STREAM_SECRET
    ) -> tuple[dict[str, str], bytes]:
        body = orjson.dumps(video)
        signed_at = int(time.time()) if at is None else at
        return {
            "Webhook-Signature": stream_signature(secret, body, signed_at),
            "content-type": "application/json",
        }, body


@contextmanager
def serve_fake_cloudflare() -> Iterator[FakeCloudflareStream]:
    """Run the fake on a free port in a thread for the duration of the block."""
    fake = FakeCloudflareStream()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("fake Cloudflare Stream did not start")
        time.sleep(0.01)
    fake.base_url = f"http://127.0.0.1:{port}/client/v4"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=5)
