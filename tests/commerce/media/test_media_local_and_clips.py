"""The embedded default's local-disk storage behind the same flow, and the optional FFmpeg task
(skipped without the binary; with it, a real clip and still cut from an HLS recording)."""

from __future__ import annotations

import asyncio
import io
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from asgi_lifespan import LifespanManager
from PIL import Image
from structlog.testing import capture_logs

from commerce.app import create_app
from commerce.context import AppContext
from commerce.media import tasks
from commerce.streams.models import Stream
from tests.commerce.factories import make_product, make_user
from tests.commerce.media.images_fixtures import jpeg, png
from tests.commerce.media.video_fixtures import https_files, make_recording, probe


async def test_local_disk_backend_serves_the_same_upload_flow(
    ctx: AppContext, tmp_path: Path
) -> None:
    settings = ctx.settings.updated(media={"backend": "local", "local_dir": tmp_path})
    local = AppContext.build(settings)
    app = create_app(settings, ctx=local)
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api,
        ):
            seller, headers = await make_user(local, "seller")
            product = await make_product(local, seller)
            ticket = (
                await api.post(
                    f"/api/v1/products/{product.id}/images",
                    json={"content_type": "image/jpeg"},
                    headers=headers,
                )
            ).json()
            upload_url = urlsplit(ticket["upload_url"])
            target = f"{upload_url.path}?{upload_url.query}"

            forged = target[:-1] + ("1" if target.endswith("0") else "0")  # sig is last
            refused = await api.put(forged, content=jpeg(640, 480), headers=ticket["headers"])
            assert refused.status_code == 403
            retyped = await api.put(target, content=png(), headers={"Content-Type": "image/png"})
            assert retyped.status_code == 403  # the URL was signed for image/jpeg

            stored = await api.put(target, content=jpeg(640, 480), headers=ticket["headers"])
            assert stored.status_code == 200
            done = await api.post(f"/api/v1/uploads/{ticket['key']}/complete", headers=headers)
            assert done.status_code == 202, done.text
            async with asyncio.timeout(10):
                while (
                    upload := (
                        await api.get(f"/api/v1/uploads/{ticket['key']}", headers=headers)
                    ).json()
                )["status"] != "ready":
                    await asyncio.sleep(0.02)
            thumb = await api.get(urlsplit(upload["variants"]["200"]).path)
            assert thumb.status_code == 200
            assert thumb.headers["content-type"] == "image/webp"
            with Image.open(io.BytesIO(thumb.content)) as im:
                assert im.size == (200, 150)
            assert sorted(
                p.name for p in (tmp_path / "products" / str(product.id)).iterdir()
            ) == sorted(f"{ticket['key']}-{s}.webp" for s in (200, 800))
            escape = await api.get("/api/v1/media/local/..%2F..%2Fetc%2Fpasswd")
            assert escape.status_code == 404
    finally:
        await local.close()


async def _ended_stream(ctx: AppContext, video_uid: str) -> Stream:
    host, _ = await make_user(ctx, "seller")
    async with ctx.sessions() as session, session.begin():
        stream = Stream(
            host_id=host.id,
            title="t",
            status="ended",
            live_input_uid="a" * 32,
            ingest={},
            playback={},
            recording_video_uid=video_uid,
        )
        session.add(stream)
    return stream


async def test_clip_task_is_skipped_with_a_clear_log_line_without_ffmpeg(
    ctx: AppContext, tmp_path: Path
) -> None:
    stream = await _ended_stream(ctx, "b" * 32)
    settings = ctx.settings.updated(media={"ffmpeg_binary": str(tmp_path / "no-ffmpeg")})
    without = AppContext.build(settings)
    try:
        with capture_logs() as logs:
            assert await tasks.recording_clip(without, stream.id, 10.0, 15.0) is None
    finally:
        await without.close()
    [line] = [e for e in logs if e["event"] == "ffmpeg_missing_skipped"]
    assert line["stream_id"] == stream.id and line["log_level"] == "warning"


async def test_clip_and_still_are_cut_from_the_hls_recording_with_real_ffmpeg(
    ctx: AppContext, tmp_path: Path
) -> None:
    """The task reads the VOD's HLS manifest over HTTPS (as from Cloudflare), stream-copies a
    clip / grabs a frame, and stores them in the configured bucket (moto S3 here)."""
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    assert ffmpeg and ffprobe, "ffmpeg is required (scripts/ensure_services.sh installs it)"
    video_uid = "c" * 32
    served, tls = tmp_path / "cdn", tmp_path / "tls"
    served.mkdir()
    tls.mkdir()
    make_recording(ffmpeg, served, video_uid)
    stream = await _ended_stream(ctx, video_uid)
    with https_files(served, tls) as host:
        settings = ctx.settings.updated(
            streams={"cloudflare": {"customer_subdomain": host}})
        cutter = AppContext.build(settings)
        try:
            clip_url = await tasks.recording_clip(cutter, stream.id, 1.0, 1.5)
            still_url = await tasks.recording_clip(cutter, stream.id, 2.0, 0, "thumbnail")
        finally:
            await cutter.close()
    assert clip_url and clip_url.endswith(f"/streams/{stream.id}/clip-1000.mp4")
    assert still_url and still_url.endswith(f"/streams/{stream.id}/thumbnail-2000.jpg")

    store = ctx.media  # the same bucket, read back through the media storage interface
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(await store.read(f"streams/{stream.id}/clip-1000.mp4"))
    info = probe(ffprobe, clip)
    assert info["format"]["format_name"].startswith("mov,mp4")
    # Stream copy cuts on packets (keyframe every 1 s, AAC frames of ~21 ms): ~1.5 s.
    assert 1.4 <= float(info["format"]["duration"]) <= 2.0
    streams = {s["codec_type"]: s for s in info["streams"]}
    assert streams["video"]["codec_name"] == "h264"
    assert (streams["video"]["width"], streams["video"]["height"]) == (320, 240)
    assert streams["audio"]["codec_name"] == "aac"

    still = await store.read(f"streams/{stream.id}/thumbnail-2000.jpg")
    with Image.open(io.BytesIO(still)) as im:
        assert (im.format, im.size) == ("JPEG", (320, 240))
