"""The API view of a stream: what each viewer may see of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce import live_inputs
from commerce.auth.models import User
from commerce.context import AppContext
from commerce.streams import playback
from commerce.streams.models import Stream
from commerce.streams.schemas import Ingest, Playback, StreamHost, StreamOut
from shared import roomstats
from shared.tokens import Principal


@dataclass(frozen=True, slots=True)
class Audience:
    """Who hosts each stream and how many watch it now: what a list of streams shows beside
    the streams' own rows (one users query and one Redis round trip for the whole page)."""

    hosts: dict[int, StreamHost]
    viewers: dict[int, int]

    @classmethod
    async def of(
        cls, ctx: AppContext, session: AsyncSession, streams: Sequence[Stream]
    ) -> Audience:
        if not streams:
            return cls({}, {})
        host_ids = {s.host_id for s in streams}
        rows = await session.execute(
            select(User.id, User.display_name).where(User.id.in_(host_ids))
        )
        hosts = {uid: StreamHost(id=uid, display_name=name) for uid, name in rows}
        pipe = ctx.redis.pipeline(transaction=False)
        for s in streams:
            pipe.hlen(roomstats.viewers(s.id))
        counts = await pipe.execute()
        return cls(hosts, {s.id: int(n) for s, n in zip(streams, counts, strict=True)})


def present(
    ctx: AppContext,
    stream: Stream,
    lineup: list[int],
    viewer: Principal | None,
    audience: Audience | None = None,
) -> StreamOut:
    """The API view: ingest only for the host; private playback signed per signed-in viewer."""
    is_host = viewer is not None and (viewer.user_id == stream.host_id or viewer.role == "admin")
    ingest = Ingest.model_validate(stream.ingest) if is_host and stream.ingest else None
    play: Playback | None = None
    uid = stream.live_input_uid
    if uid is not None and (not stream.is_private or viewer is not None):
        provider = ctx.live_inputs
        if isinstance(provider, live_inputs.LocalLiveInputs):
            urls = provider.playback_urls(uid)
        elif stream.is_private:
            urls = playback.signed_playback_urls(ctx.settings, uid)
        else:
            urls = live_inputs.playback_urls(ctx.settings, uid)
        vod: dict[str, str] = {}
        if stream.recording_video_uid:
            vod_urls = (
                playback.signed_playback_urls(ctx.settings, stream.recording_video_uid)
                if stream.is_private
                else live_inputs.playback_urls(ctx.settings, stream.recording_video_uid)
            )
            vod = {"vod_hls_url": vod_urls["hls_url"], "vod_dash_url": vod_urls["dash_url"]}
        play = Playback(**urls, **vod)
    return StreamOut(
        id=stream.id,
        host_id=stream.host_id,
        host=audience.hosts.get(stream.host_id) if audience else None,
        viewers=audience.viewers.get(stream.id, 0) if audience else 0,
        title=stream.title,
        status=stream.status,
        is_private=stream.is_private,
        scheduled_at=stream.scheduled_at,
        started_at=stream.started_at,
        ended_at=stream.ended_at,
        product_ids=lineup,
        ingest=ingest,
        playback=play,
        recording_video_uid=stream.recording_video_uid,
        created_at=stream.created_at,
    )
