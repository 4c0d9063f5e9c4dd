"""Wire shapes of `/streams`: strict input, and output that hides ingest secrets from viewers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from shared.text import line_validator

MAX_LINEUP = 50

StreamStatus = Literal["scheduled", "live", "ended"]
# Shown to every viewer: control and bidi characters removed, invisible-only titles refused.
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(line_validator(200)),
]
ProductIdIn = Annotated[int, Field(ge=1, le=2**63 - 1)]


class StreamCreate(BaseModel):
    # strict: no "5" -> 5 coercion; unknown fields are a client bug, not a no-op.
    model_config = ConfigDict(strict=True, extra="forbid")

    title: Title
    # Strict mode would refuse ISO strings from JSON for datetimes; allow them for this field.
    scheduled_at: Annotated[
        AwareDatetime | None,
        Field(strict=False),
        AfterValidator(lambda v: v.astimezone(UTC) if v is not None else None),
    ] = None
    product_ids: Annotated[list[ProductIdIn], Field(max_length=MAX_LINEUP)] = Field(
        default_factory=list
    )
    is_private: bool = False


class StreamUpdate(BaseModel):
    """Only the fields sent change; a stream that has ended can no longer be changed."""

    model_config = ConfigDict(strict=True, extra="forbid")

    title: Title | None = None
    scheduled_at: Annotated[
        AwareDatetime | None,
        Field(strict=False),
        AfterValidator(lambda v: v.astimezone(UTC) if v is not None else None),
    ] = None
    product_ids: Annotated[list[ProductIdIn] | None, Field(max_length=MAX_LINEUP)] = None

    @model_validator(mode="after")
    def _something(self) -> StreamUpdate:
        if not self.model_fields_set:
            raise ValueError("nothing to update")
        if "title" in self.model_fields_set and self.title is None:
            raise ValueError("title cannot be null")
        if "product_ids" in self.model_fields_set and self.product_ids is None:
            raise ValueError("product_ids cannot be null (send [] to clear)")
        return self


class Ingest(BaseModel):
    """Where the host's encoder sends video (RTMPS, SRT or WebRTC/WHIP). Host only."""

    rtmps_url: str
    stream_key: str
    srt_url: str
    srt_stream_id: str = ""
    srt_passphrase: str = ""
    whip_url: str


class Playback(BaseModel):
    hls_url: str
    dash_url: str
    vod_hls_url: str | None = None
    vod_dash_url: str | None = None


class StreamHost(BaseModel):
    id: int
    display_name: str


class StreamOut(BaseModel):
    id: int
    host_id: int
    host: StreamHost | None = Field(
        default=None, description="the host's public name (lists and the stream's own page)"
    )
    viewers: int = Field(default=0, description="viewers in the room now (the gateway's count)")
    title: str
    status: StreamStatus
    is_private: bool
    scheduled_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    product_ids: list[int]
    ingest: Ingest | None = Field(description="only for the host")
    playback: Playback | None = Field(description="null for a private stream seen by a guest")
    recording_video_uid: str | None
    created_at: datetime
