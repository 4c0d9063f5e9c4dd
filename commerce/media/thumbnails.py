"""Thumbnails of a validated upload: rendered, stored and attached to the product, on a media
worker (`commerce.media.tasks.make_thumbnails`), after `service.complete_upload` queued it."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from sqlalchemy import select, update

from commerce.catalog import service as catalog_service
from commerce.catalog.models import Product
from commerce.catalog.schemas import MAX_IMAGES
from commerce.context import AppContext
from commerce.db import transaction
from commerce.media import images
from commerce.media.models import Upload
from shared import livedata

log = structlog.get_logger(__name__)


async def make_thumbnails(ctx: AppContext, *, upload_id: int) -> dict[str, Any]:
    """Render, store and attach the thumbnails of one validated upload (idempotent)."""
    async with ctx.sessions() as session:
        upload = await session.get(Upload, upload_id)
    if upload is None or upload.status != "processing":
        return upload.variants if upload else {}
    settings = ctx.settings
    store = ctx.media
    data = await store.read(upload.object_key)
    rendered = await asyncio.to_thread(
        images.thumbnails,
        data,
        settings.media.thumbnail_sizes,
        max_pixels=settings.media.max_pixels,
    )
    variants: dict[str, Any] = {}
    for size, webp in rendered.items():
        object_key = f"products/{upload.product_id}/{upload.key}-{size}.webp"
        await store.put(object_key, webp, content_type="image/webp")
        variants[str(size)] = store.public_url(object_key)
    primary = variants[str(max(rendered))]
    async with transaction(ctx.sessions) as session:
        product = await session.scalar(
            select(Product).where(Product.id == upload.product_id).with_for_update()
        )
        done = await session.execute(
            update(Upload)
            .where(Upload.id == upload.id, Upload.status == "processing")
            .values(status="ready", variants=variants)
        )
        won = done.rowcount == 1  # type: ignore[attr-defined]
        if (
            product is not None
            and won
            and primary not in product.images
            and len(product.images) < MAX_IMAGES
        ):
            product.images = [*product.images, primary]
    if product is not None and not product.is_deleted:
        try:
            await livedata.put_product(ctx.redis, catalog_service.snapshot(product))
        except Exception:
            log.exception("product_snapshot_failed", product_id=product.id)
    log.info("thumbnails_ready", key=upload.key, sizes=sorted(rendered))
    return variants
