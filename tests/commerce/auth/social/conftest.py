"""Social-login tests run against the fake providers in tests/fakes/social over real HTTP.

`commerce_settings` is overridden so the app under test (and `SocialRegistry`) talks to the
fakes: every provider is configured, with short timeouts so outage tests stay fast.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.settings import CommerceSettings
from tests.fakes.social.apple import FakeApple
from tests.fakes.social.facebook import FakeFacebook
from tests.fakes.social.google import FakeGoogle
from tests.fakes.social.instagram import FakeInstagram
from tests.fakes.social.line import FakeLine
from tests.fakes.social.oidc import FakeOidc


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    async with FakeGoogle() as fake:
        yield fake


@pytest.fixture
async def apple() -> AsyncIterator[FakeApple]:
    async with FakeApple() as fake:
        yield fake


@pytest.fixture
async def line() -> AsyncIterator[FakeLine]:
    async with FakeLine() as fake:
        yield fake


@pytest.fixture
async def facebook() -> AsyncIterator[FakeFacebook]:
    async with FakeFacebook() as fake:
        yield fake


@pytest.fixture
async def instagram() -> AsyncIterator[FakeInstagram]:
    async with FakeInstagram() as fake:
        yield fake


@pytest.fixture
async def kapook() -> AsyncIterator[FakeOidc]:
    async with FakeOidc() as fake:
        yield fake


def social_overrides(
    google: FakeGoogle,
    apple: FakeApple,
    line: FakeLine,
    facebook: FakeFacebook,
    instagram: FakeInstagram,
    kapook: FakeOidc,
) -> dict[str, object]:
    return {
        "social_http_timeout_s": 0.5,
        "google_client_ids": ["android-client.apps.googleusercontent.com", google.client_id],
        "google_jwks_url": google.jwks_url,
        "apple_client_ids": ["tw.livecommerce.web", apple.client_id],
        "apple_jwks_url": apple.jwks_url,
        "line_channel_id": line.channel_id,
        "line_api_base": line.url,
        "facebook_app_id": facebook.app_id,
        "facebook_app_secret": facebook.apps[facebook.app_id],
        "facebook_graph_base": facebook.graph_base,
        "facebook_limited_jwks_url": facebook.jwks_url,
        "instagram_app_id": instagram.app_id,
        "instagram_app_secret": instagram.app_secret,
        "instagram_redirect_uri": instagram.redirect_uri,
        "instagram_oauth_base": instagram.url,
        "instagram_graph_base": instagram.graph_base,
        "kapook_issuer": kapook.issuer,
        "kapook_jwks_url": kapook.jwks_url,
        "kapook_client_id": kapook.client_id,
    }


@pytest.fixture
def commerce_settings(
    commerce_settings: CommerceSettings,
    google: FakeGoogle,
    apple: FakeApple,
    line: FakeLine,
    facebook: FakeFacebook,
    instagram: FakeInstagram,
    kapook: FakeOidc,
) -> CommerceSettings:
    return CommerceSettings(
        **{
            **commerce_settings.model_dump(),
            **social_overrides(google, apple, line, facebook, instagram, kapook),
        },
        _env_file=None,  # type: ignore[call-arg]
    )


SOCIAL_PREFIXES = ("google_", "apple_", "line_", "facebook_", "instagram_", "kapook_")


@pytest.fixture
def unconfigured_settings(commerce_settings: CommerceSettings) -> CommerceSettings:
    """The project defaults for every social setting: no provider configured at all."""
    defaults = CommerceSettings(_env_file=None)  # type: ignore[call-arg]
    social = {
        name: getattr(defaults, name)
        for name in CommerceSettings.model_fields
        if name.startswith(SOCIAL_PREFIXES)
    }
    return CommerceSettings(
        **{**commerce_settings.model_dump(), **social},
        _env_file=None,  # type: ignore[call-arg]
    )
