"""Media tasks on the `media` queue: thumbnails of uploads, clips cut from stream recordings.

Thin wrappers over services (ids in, idempotent). FFmpeg is optional: without the binary the
clip task logs one clear line and does nothing, so deployments without it keep working.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

import structlog

from commerce import live_inputs
from commerce.context import AppContext
from commerce.media import thumbnails
from commerce.streams.models import Stream
from commerce.tasks import async_task, enqueue

log = structlog.get_logger(__name__)

FFMPEG_TIMEOUT_S = 120


@async_task("media.make_thumbnails", queue="media")
async def make_thumbnails(ctx: AppContext, upload_id: int) -> dict[str, Any]:
    return await thumbnails.make_thumbnails(ctx, upload_id=upload_id)


async def enqueue_thumbnails(ctx: AppContext, upload_id: int) -> None:
    await enqueue(ctx, make_thumbnails, upload_id)


def ffmpeg_path(ctx: AppContext) -> str | None:
    """The configured `ffmpeg_binary` resolved (PATH lookup or an executable path), else None."""
    return shutil.which(ctx.settings.media.ffmpeg_binary)


@async_task("media.recording_clip", queue="media")
async def recording_clip(
    ctx: AppContext, stream_id: int, start_s: float, duration_s: float, kind: str = "clip"
) -> str | None:
    """Cut a highlight (`kind="clip"`, MP4) or a still (`kind="thumbnail"`, JPEG) from the
    stream's recording and store it; returns its URL, or None when skipped."""
    binary = ffmpeg_path(ctx)
    if binary is None:
        log.warning(
            "ffmpeg_missing_skipped",
            stream_id=stream_id,
            kind=kind,
            hint="install ffmpeg to cut clips and stills from recordings",
        )
        return None
    async with ctx.sessions() as session:
        stream = await session.get(Stream, stream_id)
    if stream is None or not stream.recording_video_uid:
        log.info("recording_clip_no_recording", stream_id=stream_id)
        return None
    source = live_inputs.playback_urls(ctx.settings, stream.recording_video_uid)["hls_url"]
    suffix, content_type = (".jpg", "image/jpeg") if kind == "thumbnail" else (".mp4", "video/mp4")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"out{suffix}"
        args = [binary, "-nostdin", "-y", "-ss", f"{start_s:.3f}", "-i", source]
        if kind == "thumbnail":
            args += ["-frames:v", "1", "-q:v", "3", str(out)]
        else:
            args += ["-t", f"{duration_s:.3f}", "-c", "copy", "-movflags", "+faststart", str(out)]
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        try:
            _, stderr = await asyncio.wait_for(proc.communicate(), FFMPEG_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            log.warning("ffmpeg_timeout", stream_id=stream_id)
            return None
        if proc.returncode != 0 or not out.exists():
            log.warning(
                "ffmpeg_failed",
                stream_id=stream_id,
                code=proc.returncode,
                stderr=stderr.decode(errors="replace")[-500:],
            )
            return None
        key = f"streams/{stream_id}/{kind}-{int(start_s * 1000)}{suffix}"
        store = ctx.media
        await store.put(key, out.read_bytes(), content_type=content_type)
    return store.public_url(key)
