"""Presigned uploads to an S3 server over real HTTP, validation on completion, thumbnails."""

from __future__ import annotations

import asyncio
import io
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from botocore.exceptions import ClientError
from PIL import Image

from commerce.context import AppContext
from shared import livedata
from tests.commerce.factories import make_product, make_user
from tests.commerce.media.images_fixtures import jpeg, png, png_bomb


async def _ticket(
    api: httpx.AsyncClient,
    product_id: int,
    headers: dict[str, str],
    content_type: str = "image/jpeg",
) -> dict[str, Any]:
    response = await api.post(
        f"/api/v1/products/{product_id}/images",
        json={"content_type": content_type},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _put(ticket: dict[str, Any], data: bytes, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.put(
            ticket["upload_url"], content=data, headers={**ticket["headers"], **headers}
        )


async def _wait_ready(api: httpx.AsyncClient, key: str, headers: dict[str, str]) -> dict:
    async with asyncio.timeout(10):
        while True:
            upload = (await api.get(f"/api/v1/uploads/{key}", headers=headers)).json()
            if upload["status"] != "processing":
                return dict(upload)
            await asyncio.sleep(0.02)


def _object(s3_client: Any, bucket: str, url: str) -> bytes:
    key = url.split(f"/{bucket}/", 1)[1]
    return bytes(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())


async def test_jpeg_upload_gets_webp_thumbnails_attached_to_the_product(
    api: httpx.AsyncClient, ctx: AppContext, s3_client: Any, s3_bucket: str
) -> None:
    seller, headers = await make_user(ctx, "seller")
    product = await make_product(ctx, seller)
    ticket = await _ticket(api, product.id, headers)
    assert ticket["method"] == "PUT"
    assert ticket["headers"] == {"Content-Type": "image/jpeg"}
    assert ticket["max_bytes"] == 2_000_000

    put = await _put(ticket, jpeg(1600, 1200))
    assert put.status_code == 200, put.text

    completed = await api.post(f"/api/v1/uploads/{ticket['key']}/complete", headers=headers)
    assert completed.status_code == 202, completed.text
    assert completed.json()["status"] in {"processing", "ready"}
    assert (completed.json()["width"], completed.json()["height"]) == (1600, 1200)

    upload = await _wait_ready(api, ticket["key"], headers)
    assert upload["status"] == "ready"
    assert set(upload["variants"]) == {"200", "800"}
    for size, expected in (("200", (200, 150)), ("800", (800, 600))):
        with Image.open(io.BytesIO(_object(s3_client, s3_bucket, upload["variants"][size]))) as im:
            assert im.format == "WEBP"
            assert im.size == expected

    shown = (await api.get(f"/api/v1/products/{product.id}")).json()
    assert shown["images"] == [upload["variants"]["800"]]
    # The gateway's snapshot is written right after the commit that makes the upload ready
    # (best effort, outside the transaction), so it may trail the API by a moment.
    snapshot = None
    for _ in range(50):
        snapshot = await livedata.get_product(ctx.redis, product.id)
        if snapshot is not None and snapshot.image_url is not None:
            break
        await asyncio.sleep(0.1)
    assert snapshot is not None and snapshot.image_url == upload["variants"]["800"]

    again = await api.post(f"/api/v1/uploads/{ticket['key']}/complete", headers=headers)
    assert again.status_code == 202 and again.json()["status"] == "ready"
    assert (await api.get(f"/api/v1/products/{product.id}")).json()["images"] == shown["images"]


@pytest.mark.parametrize(
    ("declared", "data", "status", "code"),
    [
        ("image/jpeg", png(), 415, "content_type_mismatch"),  # a PNG renamed .jpg
        ("image/jpeg", b"hello, I am a text file\n" * 20, 415, "unsupported_media_type"),
        ("image/png", png_bomb(), 422, "image_too_large"),
        ("image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 64, 422, "invalid_image"),
        ("image/jpeg", jpeg(3000, 3000) + b"\x00" * 2_000_000, 413, "payload_too_large"),
    ],
    ids=["png-as-jpeg", "text", "bomb", "truncated-jpeg", "too-big"],
)
async def test_bad_uploads_are_rejected_and_deleted(
    api: httpx.AsyncClient,
    ctx: AppContext,
    s3_client: Any,
    s3_bucket: str,
    declared: str,
    data: bytes,
    status: int,
    code: str,
) -> None:
    seller, headers = await make_user(ctx, "seller")
    product = await make_product(ctx, seller)
    ticket = await _ticket(api, product.id, headers, declared)
    assert (await _put(ticket, data)).status_code == 200

    completed = await api.post(f"/api/v1/uploads/{ticket['key']}/complete", headers=headers)
    assert completed.status_code == status, completed.text
    error = completed.json()["error"]
    assert error["code"] == code
    assert error["message"]  # a clear reason for the seller

    object_key = ticket["upload_url"].split(f"/{s3_bucket}/", 1)[1].split("?")[0]
    with pytest.raises(ClientError):
        s3_client.head_object(Bucket=s3_bucket, Key=object_key)  # deleted
    upload = (await api.get(f"/api/v1/uploads/{ticket['key']}", headers=headers)).json()
    assert upload["status"] == "rejected" and upload["error"] == error["message"]
    retry = await api.post(f"/api/v1/uploads/{ticket['key']}/complete", headers=headers)
    assert retry.status_code == 422 and retry.json()["error"]["code"] == "rejected"
    assert (await api.get(f"/api/v1/products/{product.id}")).json()["images"] == []


async def test_presigned_url_is_bound_to_its_content_type_and_must_be_used_first(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, headers = await make_user(ctx, "seller")
    product = await make_product(ctx, seller)
    ticket = await _ticket(api, product.id, headers)
    early = await api.post(f"/api/v1/uploads/{ticket['key']}/complete", headers=headers)
    assert early.status_code == 409 and early.json()["error"]["code"] == "upload_missing"
    # The signature covers Content-Type, so R2 refuses an upload sent as another type (moto
    # does not enforce signatures, so check what was signed).
    query = parse_qs(urlsplit(ticket["upload_url"]).query)
    assert "content-type" in query["X-Amz-SignedHeaders"][0].split(";")
    assert query["X-Amz-Credential"][0].split("/")[2] == "auto"  # R2's region


async def test_only_the_owner_may_upload_and_complete(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, headers = await make_user(ctx, "seller")
    _, other = await make_user(ctx, "seller")
    _, buyer = await make_user(ctx, "buyer")
    product = await make_product(ctx, seller)
    url = f"/api/v1/products/{product.id}/images"
    body = {"content_type": "image/jpeg"}
    assert (await api.post(url, json=body)).status_code == 401
    assert (await api.post(url, json=body, headers=buyer)).status_code == 403
    assert (await api.post(url, json=body, headers=other)).status_code == 404
    for bad in ({"content_type": "image/gif"}, {"content_type": "text/plain"}, {}):
        response = await api.post(url, json=bad, headers=headers)
        assert response.status_code == 422, bad
    ticket = await _ticket(api, product.id, headers)
    complete = f"/api/v1/uploads/{ticket['key']}/complete"
    assert (await api.post(complete, headers=other)).status_code == 404
    assert (await api.get(f"/api/v1/uploads/{ticket['key']}", headers=other)).status_code == 404
    assert (
        await api.post("/api/v1/uploads/not-a-key/complete", headers=headers)
    ).status_code == 422
    assert (
        await api.post(f"/api/v1/uploads/{'0' * 32}/complete", headers=headers)
    ).status_code == 404
