"""The stream sandbox's looping HLS test stream: what `make run` plays for a live stream."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from commerce.context import AppContext
from commerce.sandbox.teststream import LoopingStream
from shared.settings import CommerceSettings
from tests.commerce.factories import make_product, make_user
from tests.conftest import app_client


def test_the_playlist_lists_the_clip_once_for_the_page_to_loop() -> None:
    stream = LoopingStream(directory=Path("/nonexistent"), ffmpeg_binary="ffmpeg")
    assert stream.playlist() == (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PLAYLIST-TYPE:VOD\n"
        + "".join(f"#EXTINF:2.000,\nseg{i}.ts\n" for i in range(4))
        + "#EXT-X-ENDLIST\n"
    )


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
async def test_a_live_stream_plays_the_test_stream_from_the_sandbox(
    commerce_settings: CommerceSettings, ctx: AppContext, tmp_path: Path
) -> None:
    settings = commerce_settings.updated(
        streams={"sandbox_video_dir": tmp_path}, media={"ffmpeg_binary": "ffmpeg"}
    )
    async with app_client(settings, ctx) as api:
        await _plays_the_test_stream(api, ctx)


async def _plays_the_test_stream(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, headers = await make_user(ctx, "seller")
    product = await make_product(ctx, seller)
    created = await api.post(
        "/api/v1/streams", json={"title": "夜市", "product_ids": [product.id]}, headers=headers
    )
    assert created.status_code == 201, created.text
    hls_url = created.json()["playback"]["hls_url"]
    assert hls_url.startswith("/api/v1/sandbox/video/") and hls_url.endswith("/live.m3u8")

    playlist = await api.get(hls_url)
    assert playlist.status_code == 200
    assert playlist.headers["content-type"] == "application/vnd.apple.mpegurl"
    segments = [line for line in playlist.text.splitlines() if line.endswith(".ts")]
    assert len(segments) == 4
    base = hls_url.rsplit("/", 1)[0]
    for name in segments:
        segment = await api.get(f"{base}/{name}")
        assert segment.status_code == 200
        assert segment.headers["content-type"] == "video/mp2t"
        assert segment.content[:1] == b"\x47"  # MPEG-TS sync byte
        assert len(segment.content) > 5_000

    assert (await api.get(f"{base}/seg9.ts")).status_code == 422  # past the clip
    assert (await api.get("/api/v1/sandbox/video/NOT-A-UID/live.m3u8")).status_code == 422


async def test_without_ffmpeg_there_is_no_stream_and_a_clear_503(
    commerce_settings: CommerceSettings, ctx: AppContext, tmp_path: Path
) -> None:
    settings = commerce_settings.updated(
        streams={"sandbox_video_dir": tmp_path}, media={"ffmpeg_binary": "no-such-ffmpeg-here"}
    )
    async with app_client(settings, ctx) as api:
        answer = await api.get(f"/api/v1/sandbox/video/{'a' * 32}/live.m3u8")
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "no_test_stream"
    assert not list(tmp_path.iterdir())
