"""`GET /api/v1/sandbox/video/{uid}/…`: the stream sandbox's looping HLS test stream.

A live stream on the local live-input provider plays from here (`LocalLiveInputs.playback_urls`);
every live input gets the same picture. Development only, like every sandbox route.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import FileResponse

from commerce.sandbox.teststream import SEGMENTS, LoopingStream
from shared.errors import NotFound, Unavailable

router = APIRouter(prefix="/video")

InputUid = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
# `LocalLiveInputs.playback_urls` hands out this path as a live stream's `hls_url`.
PLAYLIST = "live.m3u8"


async def _stream(request: Request) -> LoopingStream:
    """The app's one stream (built by `commerce.app.create_app`), so the clip is rendered once
    however many requests race for it."""
    stream: LoopingStream = request.app.state.test_stream
    return stream


TestStream = Annotated[LoopingStream, Depends(_stream)]


@router.get(f"/{{uid}}/{PLAYLIST}", response_class=Response)
async def playlist(uid: InputUid, stream: TestStream) -> Response:
    if not await stream.ensure_rendered():
        raise Unavailable("no test stream: FFmpeg is not installed", code="no_test_stream")
    return Response(
        stream.playlist(),
        media_type="application/vnd.apple.mpegurl",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/{uid}/seg{index}.ts", response_class=FileResponse)
async def segment(
    uid: InputUid,
    index: Annotated[int, Path(ge=0, lt=SEGMENTS)],
    stream: TestStream,
) -> FileResponse:
    path = stream.segment(index) if await stream.ensure_rendered() else None
    if path is None:
        raise NotFound("no such segment")
    return FileResponse(path, media_type="video/mp2t", headers={"Cache-Control": "max-age=60"})
