"""Media settings (`MEDIA_*`, `S3_*`, `FFMPEG_BINARY`): R2 / any S3-compatible store, or local
disk when embedded (commerce/media, commerce/media_storage.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.config.composed import VAR_DIR, ComposedSettings


class S3Settings(ComposedSettings):
    """The S3-compatible bucket (Cloudflare R2 in production)."""

    model_config = SettingsConfigDict(env_prefix="S3_")

    endpoint_url: str | None = None
    region: str = "auto"
    bucket: str = "livecommerce-media"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None

    @property
    def has_credentials(self) -> bool:
        return bool(self.endpoint_url and self.access_key_id and self.secret_access_key)


class MediaSettings(ComposedSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIA_")

    backend: Literal["local", "s3"] = "local"
    local_dir: Path = VAR_DIR / "media"
    # Public base URL of stored objects (a CDN or R2 custom domain); empty: derived.
    public_base_url: str = ""
    upload_url_ttl_s: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    max_upload_bytes: int = Field(default=10_000_000, ge=1)
    max_pixels: int = Field(default=40_000_000, ge=1)
    thumbnail_sizes: list[int] = Field(default_factory=lambda: [200, 800])
    # Signs the local backend's upload URLs (embedded default only; production uses s3).
    local_signing_secret: SecretStr = SecretStr("dev-media-local-secret")
    # FFmpeg for clips/stills cut from recordings (and the stream sandbox's test clip): a name
    # looked up on PATH or an absolute path. Optional: when it is not found the clip task logs
    # `ffmpeg_missing_skipped` and does nothing.
    ffmpeg_binary: str = Field(default="ffmpeg", validation_alias="FFMPEG_BINARY")
    s3: S3Settings = Field(default_factory=S3Settings)

    def production_problems(self) -> list[str]:
        if self.backend == "s3" and self.s3.has_credentials:
            return []
        return ["MEDIA_BACKEND=s3 with S3_ENDPOINT_URL, S3_ACCESS_KEY_ID and "
                "S3_SECRET_ACCESS_KEY (R2) must be set"]
