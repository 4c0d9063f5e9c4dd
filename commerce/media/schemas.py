"""Wire shapes of product image uploads."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ImageType = Literal["image/jpeg", "image/png", "image/webp"]


class UploadRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    content_type: ImageType = Field(description="the type the file will be uploaded as")


class UploadTicket(BaseModel):
    """Where and how to PUT the file; then call `POST /uploads/{key}/complete`."""

    key: str
    upload_url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str] = Field(description="send exactly these headers with the PUT")
    expires_at: int = Field(description="unix seconds")
    max_bytes: int


class UploadOut(BaseModel):
    key: str
    product_id: int
    status: Literal["pending", "processing", "ready", "rejected"]
    content_type: str
    size_bytes: int | None
    width: int | None
    height: int | None
    error: str | None
    variants: dict[str, Any] = Field(description="thumbnail size (px) -> URL, once ready")
