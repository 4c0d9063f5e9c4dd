"""Stream settings: Cloudflare Stream (`CLOUDFLARE_*`) and how live streams run (`STREAM_*`).

No API token: an in-process live-input provider stands in (the embedded default), so `make run`
can create streams without an account. Production refuses that, and the development secrets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.config.composed import VAR_DIR, ComposedSettings


class CloudflareSettings(ComposedSettings):
    """The Cloudflare Stream account (commerce/live_inputs.py, commerce/streams)."""

    model_config = SettingsConfigDict(env_prefix="CLOUDFLARE_")

    account_id: str = ""
    api_token: SecretStr | None = None
    api_base: str = "https://api.cloudflare.com/client/v4"
    api_timeout_s: float = 10.0
    # Secret Stream returns from `PUT /stream/webhook` (signs the video-ready webhook).
    stream_webhook_secret: SecretStr = SecretStr("dev-stream-webhook-secret")
    # Secret of the Notifications webhook destination, sent back as `cf-webhook-auth`.
    notification_secret: SecretStr = SecretStr("dev-notification-secret")
    webhook_tolerance_s: int = Field(default=300, ge=1)
    # Stream signing key (`POST /stream/keys`: id + base64 PEM) for private playback tokens.
    signing_key_id: str = ""
    signing_key_pem: SecretStr | None = None
    playback_token_ttl_s: int = Field(default=3600, ge=60)
    # e.g. "customer-f33zs165nr7gyfy4.cloudflarestream.com" (the account's playback host).
    customer_subdomain: str = "customer-local.cloudflarestream.com"

    @property
    def has_credentials(self) -> bool:
        return self.api_token is not None and bool(self.account_id)


class StreamSettings(ComposedSettings):
    """commerce/streams: the live-input provider and the stream lifecycle."""

    model_config = SettingsConfigDict(env_prefix="STREAM_")

    # `sandbox`: the in-process live-input provider (`commerce/live_inputs.py`) whose
    # encoder `POST /sandbox/streams/{id}/encoder` connects; `cloudflare`: the real API. Unset:
    # Cloudflare when CLOUDFLARE_API_TOKEN is set, else the sandbox. Production refuses `sandbox`.
    provider: Literal["cloudflare", "sandbox"] | None = None
    # A live stream whose input has stayed disconnected this long is ended by the poll task
    # (a short drop keeps it live: encoders reconnect).
    auto_end_after_s: int = Field(default=1800, ge=60)
    # The stream sandbox's looping HLS test stream (embedded default), rendered once with FFmpeg.
    sandbox_video_dir: Path = Field(default=VAR_DIR / "sandbox-video",
                                    validation_alias="SANDBOX_VIDEO_DIR")
    cloudflare: CloudflareSettings = Field(default_factory=CloudflareSettings)

    @model_validator(mode="after")
    def _provider_has_credentials(self) -> StreamSettings:
        if self.provider == "cloudflare" and not self.cloudflare.has_credentials:
            raise ValueError(
                "STREAM_PROVIDER=cloudflare needs CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN"
            )
        return self

    @property
    def sandbox(self) -> bool:
        """Whether live inputs come from the local sandbox instead of Cloudflare's API."""
        if self.provider is not None:
            return self.provider == "sandbox"
        return self.cloudflare.api_token is None

    def production_problems(self) -> list[str]:
        problems: list[str] = []
        if self.provider == "sandbox":
            problems.append("STREAM_PROVIDER=sandbox is for development only")
        if not self.cloudflare.has_credentials:
            problems.append("CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN must be set")
        secrets = (self.cloudflare.stream_webhook_secret, self.cloudflare.notification_secret)
        if any(s.get_secret_value().startswith("dev-") for s in secrets):
            problems.append(
                "CLOUDFLARE_STREAM_WEBHOOK_SECRET and CLOUDFLARE_NOTIFICATION_SECRET must be set"
            )
        return problems
