"""`GET /api/v1/sandbox/video/{uid}/…`: the stream sandbox's looping HLS test stream.

A live stream on the local live-input provider plays from here (`LocalLiveInputs.playback_urls`);
every live input gets the same picture. Development only, like every sandbox route.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from fastapi.responses import FileResponse

from commerce.deps import CtxDep
from commerce.sandbox.teststream import SEGMENTS, LoopingStream
from shared.errors import NotFound, Unavailable

router = APIRouter(prefix="/video")

InputUid = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
# `LocalLiveInputs.playback_urls` hands out this path as a live stream's `hls_url`.
PLAYLIST = "live.m3u8"


def _stream(ctx: CtxDep) -> LoopingStream:
    """One per app context, so the clip is rendered once however many requests race for it."""
    found = ctx.extras.get("sandbox_test_stream")
    if not isinstance(found, LoopingStream):
        found = LoopingStream(
            directory=ctx.settings.sandbox_video_dir, ffmpeg_binary=ctx.settings.ffmpeg_binary
        )
        ctx.extras["sandbox_test_stream"] = found
    return found


@router.get(f"/{{uid}}/{PLAYLIST}", response_class=Response)
async def playlist(uid: InputUid, ctx: CtxDep) -> Response:
    stream = _stream(ctx)
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
    ctx: CtxDep,
) -> FileResponse:
    stream = _stream(ctx)
    path = stream.segment(index) if await stream.ensure_rendered() else None
    if path is None:
        raise NotFound("no such segment")
    return FileResponse(path, media_type="video/mp2t", headers={"Cache-Control": "max-age=60"})
