"""Image upload routes: presign, complete, status; plus the local backend's object routes."""

from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response

from commerce.catalog.dependencies import OwnedProduct
from commerce.deps import CtxDep, SellerPrincipal
from commerce.media import service
from commerce.media.models import Upload
from commerce.media.schemas import UploadOut, UploadRequest, UploadTicket
from commerce.media_storage import LOCAL_ROUTE

router = APIRouter(tags=["media"])

UploadKey = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
ObjectKey = Annotated[str, Path(max_length=255)]


def _out(upload: Upload) -> UploadOut:
    return UploadOut.model_validate(upload, from_attributes=True)


@router.post("/products/{product_id}/images", status_code=201, response_model=UploadTicket)
async def request_image_upload(
    body: UploadRequest, product: OwnedProduct, principal: SellerPrincipal, ctx: CtxDep
) -> UploadTicket:
    upload, presigned = await service.request_upload(
        ctx, product=product, owner_id=principal.user_id, content_type=body.content_type
    )
    return UploadTicket(
        key=upload.key,
        upload_url=presigned.url,
        headers=presigned.headers,
        expires_at=presigned.expires_at,
        max_bytes=ctx.settings.media.max_upload_bytes,
    )


@router.post("/uploads/{key}/complete", status_code=202, response_model=UploadOut)
async def complete_upload(key: UploadKey, principal: SellerPrincipal, ctx: CtxDep) -> UploadOut:
    return _out(await service.complete_upload(ctx, key=key, principal=principal))


@router.get("/uploads/{key}", response_model=UploadOut)
async def get_upload(key: UploadKey, principal: SellerPrincipal, ctx: CtxDep) -> UploadOut:
    return _out(await service.get_upload(ctx, key=key, principal=principal))


_local = LOCAL_ROUTE.removeprefix("/api/v1")


@router.put(f"{_local}/{{object_key:path}}", status_code=200, include_in_schema=False)
async def put_local_object(
    object_key: ObjectKey,
    request: Request,
    ctx: CtxDep,
    expires: Annotated[int, Query()],
    sig: Annotated[str, Query(max_length=64)],
    content_type: Annotated[str, Header()] = "",
) -> Response:
    await service.store_local_upload(
        ctx,
        object_key=object_key,
        content_type=content_type,
        expires=expires,
        sig=sig,
        body=await request.body(),
    )
    return Response(status_code=200)


@router.get(f"{_local}/{{object_key:path}}", include_in_schema=False)
async def get_local_object(object_key: ObjectKey, ctx: CtxDep) -> Response:
    data = await service.read_local_object(ctx, object_key=object_key)
    media_type = mimetypes.guess_type(object_key)[0] or "application/octet-stream"
    return Response(data, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})
