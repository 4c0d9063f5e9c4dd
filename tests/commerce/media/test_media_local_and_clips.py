"""The embedded default's local-disk storage behind the same flow, and the optional FFmpeg task."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager
from PIL import Image
from structlog.testing import capture_logs

from commerce.app import create_app
from commerce.context import AppContext
from commerce.media import tasks
from commerce.streams.models import Stream
from tests.commerce.factories import make_product, make_user
from tests.commerce.media.images_fixtures import jpeg, png


async def test_local_disk_backend_serves_the_same_upload_flow(
    ctx: AppContext, tmp_path: Path
) -> None:
    settings = ctx.settings.model_copy(
        update={"media_backend": "local", "media_local_dir": tmp_path}
    )
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


async def test_clip_task_is_skipped_with_a_clear_log_line_without_ffmpeg(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, _ = await make_user(ctx, "seller")
    async with ctx.sessions() as session, session.begin():
        stream = Stream(
            host_id=host.id,
            title="t",
            status="ended",
            live_input_uid="a" * 32,
            ingest={},
            playback={},
            recording_video_uid="b" * 32,
        )
        session.add(stream)
    monkeypatch.setenv("PATH", "")  # whatever is installed, ffmpeg is not found
    with capture_logs() as logs:
        assert await tasks.recording_clip(ctx, stream.id, 10.0, 15.0) is None
    [line] = [e for e in logs if e["event"] == "ffmpeg_missing_skipped"]
    assert line["stream_id"] == stream.id and line["log_level"] == "warning"
