"""The stream sandbox's video: a short looping HLS test stream, so `make run` has a picture.

Nothing ingests video on the embedded default (the local live-input provider only hands out
ingest URLs), so a live stream's playback URL points here instead of at Cloudflare. The clip is
rendered once with FFmpeg (its `testsrc2` pattern, H.264 in MPEG-TS, small and 10 frames a
second, no audio so browsers autoplay it muted) into `SANDBOX_VIDEO_DIR` and served as a VOD
playlist that the pages loop. (A sliding live playlist over the same segments, with a
discontinuity at each wrap, made hls.js stall and spin in Chromium: the loop is simpler and
plays everywhere.) Without FFmpeg there is no stream (`available()` is False) and the pages
show their still image instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

SEGMENT_S = 2
SEGMENTS = 4  # an 8-second loop


class LoopingStream:
    """Renders the clip on first use (once per directory) and answers playlists and segments."""

    def __init__(self, *, directory: Path, ffmpeg_binary: str) -> None:
        self._dir = directory
        self._ffmpeg = shutil.which(ffmpeg_binary)
        self._lock = asyncio.Lock()

    def available(self) -> bool:
        return self._ffmpeg is not None

    def _segment_path(self, index: int) -> Path:
        return self._dir / f"seg{index}.ts"

    def _rendered(self) -> bool:
        return all(self._segment_path(i).is_file() for i in range(SEGMENTS))

    async def ensure_rendered(self) -> bool:
        """Render the segments unless they exist; False when FFmpeg is missing or failed."""
        if self._rendered():
            return True
        if self._ffmpeg is None:
            return False
        async with self._lock:
            if self._rendered():
                return True
            # Rendered aside and moved into place file by file (atomic renames), so API
            # processes sharing the directory (`make cluster`) never serve a half-written one.
            work = self._dir / f".render-{os.getpid()}"
            work.mkdir(parents=True, exist_ok=True)
            # A fixed GOP of one segment, so each segment starts with a keyframe and can follow
            # any other after a discontinuity.
            fps = 10
            proc = await asyncio.create_subprocess_exec(
                self._ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
                "-f", "lavfi", "-i", f"testsrc2=size=426x240:rate={fps}",
                "-t", str(SEGMENT_S * SEGMENTS), "-an",
                "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main",
                "-pix_fmt", "yuv420p", "-g", str(fps * SEGMENT_S),
                "-keyint_min", str(fps * SEGMENT_S), "-sc_threshold", "0",
                "-f", "hls", "-hls_time", str(SEGMENT_S), "-hls_playlist_type", "vod",
                "-hls_segment_filename", str(work / "seg%d.ts"), str(work / "clip.m3u8"),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, err = await proc.communicate()
            if proc.returncode == 0:
                for index in range(SEGMENTS):
                    source = work / f"seg{index}.ts"
                    if source.is_file():
                        os.replace(source, self._segment_path(index))
            shutil.rmtree(work, ignore_errors=True)
            if proc.returncode != 0 or not self._rendered():
                tail = err.decode(errors="replace")[-500:]
                log.warning("sandbox_video_render_failed", error=tail)
                return False
            log.info("sandbox_video_rendered", dir=str(self._dir))
            return True

    def playlist(self) -> str:
        """The clip as a VOD playlist; the pages' `<video loop>` plays it round and round."""
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{SEGMENT_S}",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-PLAYLIST-TYPE:VOD",
        ]
        for index in range(SEGMENTS):
            lines += [f"#EXTINF:{SEGMENT_S:.3f},", f"seg{index}.ts"]
        return "\n".join([*lines, "#EXT-X-ENDLIST"]) + "\n"

    def segment(self, index: int) -> Path | None:
        path = self._segment_path(index)
        return path if 0 <= index < SEGMENTS and path.is_file() else None
