"""The API view of a stream: what each viewer may see of it."""

from __future__ import annotations

from commerce.context import AppContext
from commerce.streams import cloudflare, playback
from commerce.streams.models import Stream
from commerce.streams.schemas import Ingest, Playback, StreamOut
from shared.tokens import Principal


def present(
    ctx: AppContext, stream: Stream, lineup: list[int], viewer: Principal | None
) -> StreamOut:
    """The API view: ingest only for the host; private playback signed per signed-in viewer."""
    is_host = viewer is not None and (viewer.user_id == stream.host_id or viewer.role == "admin")
    ingest = Ingest.model_validate(stream.ingest) if is_host and stream.ingest else None
    play: Playback | None = None
    uid = stream.live_input_uid
    if uid is not None and (not stream.is_private or viewer is not None):
        provider = cloudflare.provider(ctx)
        if isinstance(provider, cloudflare.LocalLiveInputs):
            urls = provider.playback_urls(uid)
        elif stream.is_private:
            urls = playback.signed_playback_urls(ctx.settings, uid)
        else:
            urls = cloudflare.playback_urls(ctx.settings, uid)
        vod: dict[str, str] = {}
        if stream.recording_video_uid:
            vod_urls = (
                playback.signed_playback_urls(ctx.settings, stream.recording_video_uid)
                if stream.is_private
                else cloudflare.playback_urls(ctx.settings, stream.recording_video_uid)
            )
            vod = {"vod_hls_url": vod_urls["hls_url"], "vod_dash_url": vod_urls["dash_url"]}
        play = Playback(**urls, **vod)
    return StreamOut(
        id=stream.id,
        host_id=stream.host_id,
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
