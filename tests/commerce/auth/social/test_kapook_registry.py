"""Kapook as a generic OIDC provider, and providers without configuration."""

from __future__ import annotations

import pytest

from commerce.auth.social.base import PROVIDERS, SocialCredentials
from commerce.auth.social.errors import InvalidSocialToken, ProviderNotConfigured
from commerce.auth.social.registry import SocialRegistry
from shared.settings import CommerceSettings
from tests.fakes.social.oidc import FakeOidc


async def test_kapook_configured_oidc(
    commerce_settings: CommerceSettings, kapook: FakeOidc
) -> None:
    verifier = SocialRegistry(commerce_settings).get("kapook")
    token = kapook.id_token(nonce="k")
    identity = await verifier.verify(SocialCredentials(id_token=token, nonce="k"))
    assert (identity.provider, identity.subject, identity.email, identity.email_verified) == (
        "kapook",
        "kapook-user-42",
        "somchai@kapook.test",
        True,
    )
    with pytest.raises(InvalidSocialToken, match="another app"):
        await verifier.verify(SocialCredentials(id_token=kapook.id_token(aud="other")))
    with pytest.raises(InvalidSocialToken, match="expired"):
        await verifier.verify(SocialCredentials(id_token=kapook.id_token(expires_in=-120)))


async def test_kapook_email_verified_can_be_distrusted(
    commerce_settings: CommerceSettings, kapook: FakeOidc
) -> None:
    settings = commerce_settings.model_copy(update={"kapook_trust_email_verified": False})
    identity = (
        await SocialRegistry(settings)
        .get("kapook")
        .verify(SocialCredentials(id_token=kapook.id_token()))
    )
    assert identity.email_verified is False


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_unconfigured_provider_is_503_provider_not_configured(
    unconfigured_settings: CommerceSettings, provider: str
) -> None:
    verifier = SocialRegistry(unconfigured_settings).get(provider)  # type: ignore[arg-type]
    with pytest.raises(ProviderNotConfigured) as caught:
        await verifier.verify(SocialCredentials(id_token="a.b.c", access_token="t", code="c"))
    assert (caught.value.status, caught.value.code) == (503, "provider_not_configured")
    assert provider in caught.value.message
    assert "not configured" in caught.value.message
