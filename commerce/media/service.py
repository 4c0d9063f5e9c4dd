"""Product image uploads: issue a presigned PUT, validate the object, attach thumbnails.

Bytes never pass through the API in production: the client PUTs straight to R2 with a URL we
signed for one key and one content type. Completion then reads the object back and decides from
its bytes (not from what the client said) whether to keep it. A rejected object is deleted at
once and the upload row keeps the reason. Accepted ones get WebP thumbnails from a `media`
queue task, which appends the largest to `products.images` and refreshes the product's live
snapshot (its `image_url`) for the gateway.
"""

from __future__ import annotations

import asyncio
import secrets

import structlog
from sqlalchemy import select, update

from commerce.catalog.models import Product
from commerce.catalog.schemas import MAX_IMAGES
from commerce.context import AppContext
from commerce.db import transaction
from commerce.media import images, tasks
from commerce.media.models import Upload
from commerce.media_storage import LocalStorage, PresignedPut
from shared.errors import AppError, Conflict, NotFound
from shared.tokens import Principal

log = structlog.get_logger(__name__)

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


async def request_upload(
    ctx: AppContext, *, product: Product, owner_id: int, content_type: str
) -> tuple[Upload, PresignedPut]:
    if len(product.images) >= MAX_IMAGES:
        raise Conflict(f"a product has at most {MAX_IMAGES} images", code="too_many_images")
    key = secrets.token_hex(16)
    object_key = f"uploads/{product.id}/{key}.{EXTENSIONS[content_type]}"
    presigned = await ctx.media.presign_put(
        object_key, content_type=content_type, ttl_s=ctx.settings.media.upload_url_ttl_s
    )
    async with transaction(ctx.sessions) as session:
        upload = Upload(
            key=key,
            product_id=product.id,
            owner_id=owner_id,
            object_key=object_key,
            content_type=content_type,
            status="pending",
            variants={},
        )
        session.add(upload)
    return upload, presigned


async def get_upload(ctx: AppContext, *, key: str, principal: Principal) -> Upload:
    """The caller's upload (an admin may see any); others get 404, as for a missing key."""
    async with ctx.sessions() as session:
        upload = await session.scalar(select(Upload).where(Upload.key == key))
    if upload is None or (upload.owner_id != principal.user_id and principal.role != "admin"):
        raise NotFound("upload not found")
    return upload


async def _reject(ctx: AppContext, upload: Upload, error: AppError) -> None:
    try:
        await ctx.media.delete(upload.object_key)
    except Exception:
        log.exception("rejected_upload_delete_failed", key=upload.key)
    async with transaction(ctx.sessions) as session:
        await session.execute(
            update(Upload)
            .where(Upload.id == upload.id)
            .values(status="rejected", error=error.message[:255])
        )
    log.info("upload_rejected", key=upload.key, code=str(error.code), reason=error.message)


async def complete_upload(ctx: AppContext, *, key: str, principal: Principal) -> Upload:
    """Validate the uploaded object; rejects are deleted and raised, accepted ones queued."""
    upload = await get_upload(ctx, key=key, principal=principal)
    if upload.status == "rejected":
        raise images.ImageRejected(upload.error or "the upload was rejected", code="rejected")
    if upload.status != "pending":
        return upload  # completing twice is harmless
    settings = ctx.settings
    store = ctx.media
    size = await store.size(upload.object_key)
    if size is None:
        raise Conflict("nothing was uploaded under this key yet", code="upload_missing")
    try:
        if size > settings.media.max_upload_bytes:
            # Never read a huge object into memory just to refuse it.
            raise images.ImageRejected(
                f"the file is {size} bytes; the limit is {settings.media.max_upload_bytes}",
                code="payload_too_large",
                status=413,
            )
        data = await store.read(upload.object_key)
        info = await asyncio.to_thread(
            images.inspect,
            data,
            declared=upload.content_type,
            max_bytes=settings.media.max_upload_bytes,
            max_pixels=settings.media.max_pixels,
        )
    except images.ImageRejected as exc:
        await _reject(ctx, upload, exc)
        raise
    async with transaction(ctx.sessions) as session:
        moved = await session.execute(
            update(Upload)
            .where(Upload.id == upload.id, Upload.status == "pending")
            .values(status="processing", size_bytes=len(data), width=info.width, height=info.height)
        )
    if moved.rowcount == 1:  # type: ignore[attr-defined]
        await tasks.enqueue_thumbnails(ctx, upload.id)
    return await get_upload(ctx, key=key, principal=principal)


async def store_local_upload(
    ctx: AppContext, *, object_key: str, content_type: str, expires: int, sig: str, body: bytes
) -> None:
    """The local backend's stand-in for R2's presigned PUT (embedded default only)."""
    store = ctx.media
    if not isinstance(store, LocalStorage):
        raise NotFound("not found")
    if not store.check_signature(object_key, content_type, expires, sig):
        raise AppError("the upload URL is invalid or expired", code="forbidden", status=403)
    if len(body) > ctx.settings.media.max_upload_bytes:
        raise AppError("file too large", code="payload_too_large", status=413)
    await store.put(object_key, body, content_type=content_type)


async def read_local_object(ctx: AppContext, *, object_key: str) -> bytes:
    store = ctx.media
    if not isinstance(store, LocalStorage) or await store.size(object_key) is None:
        raise NotFound("not found")
    return await store.read(object_key)
