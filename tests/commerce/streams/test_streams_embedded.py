"""Without a Cloudflare token (the embedded default) streams still work end to end locally."""

from __future__ import annotations

from commerce import live_inputs
from commerce.context import AppContext
from commerce.streams import service
from commerce.streams.schemas import StreamCreate
from shared.settings import CommerceSettings
from tests.commerce.factories import make_user


async def test_local_provider_stands_in_without_a_token(ctx: AppContext) -> None:
    settings = ctx.settings.updated(streams={"cloudflare": {"api_token": None}})
    local = AppContext.build(settings)
    try:
        assert isinstance(local.live_inputs, live_inputs.LocalLiveInputs)
        host, _ = await make_user(ctx, "seller")
        stream = await service.create_stream(
            local, host_id=host.id, data=StreamCreate(title="local")
        )
        assert stream.status == "scheduled"
        assert stream.ingest["rtmps_url"].startswith("rtmps://127.0.0.1")
        assert stream.ingest["stream_key"]
        live = await local.live_inputs.get_live_input(stream.live_input_uid or "")
        assert live.uid == stream.live_input_uid
        assert await service.poll_live_inputs(local) == 0  # never connected: nothing changes
    finally:
        await local.close()


def test_real_api_is_used_when_a_token_is_set(ctx: AppContext) -> None:
    assert isinstance(ctx.live_inputs, live_inputs.CloudflareStream)


def test_production_refuses_to_start_without_cloudflare_and_r2(ctx: AppContext) -> None:
    base = {
        **ctx.settings.model_dump(),
        "app_env": "production",
        "cors_origins": ["https://shop.example"],
    }
    problems = CommerceSettings(
        **{
            **base,
            "streams": {"cloudflare": {
                **base["streams"]["cloudflare"], "api_token": None,
                "stream_webhook_secret": "dev-stream-webhook-secret"}},
            "media": {"backend": "local"},
        },
        _env_file=None,  # type: ignore[call-arg]
    )._extra_production_problems()
    assert any("CLOUDFLARE_API_TOKEN" in p for p in problems)
    assert any("MEDIA_BACKEND=s3" in p for p in problems)
    assert any("CLOUDFLARE_STREAM_WEBHOOK_SECRET" in p for p in problems)
    ready = CommerceSettings(
        **{
            **base,
            "streams": {"cloudflare": {
                **base["streams"]["cloudflare"], "stream_webhook_secret": "real-secret",
                "notification_secret": "real-notification-secret"}},
            "media": {"backend": "s3", "s3": {
                "endpoint_url": "https://acct.r2.cloudflarestorage.com",
                "access_key_id": "key", "secret_access_key": "secret"}},
        },
        _env_file=None,  # type: ignore[call-arg]
    )._extra_production_problems()
    assert not [p for p in ready if "CLOUDFLARE" in p or "S3" in p]
