"""Facebook (debug_token + /me, and Limited Login ID tokens) and Instagram (code exchange)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from commerce.auth.social.base import SocialCredentials
from commerce.auth.social.errors import InvalidSocialToken, ProviderUnavailable
from commerce.auth.social.registry import SocialRegistry
from shared.settings import CommerceSettings
from tests.fakes.social.facebook import FakeFacebook
from tests.fakes.social.instagram import FakeInstagram


@pytest.fixture
def registry(commerce_settings: CommerceSettings) -> SocialRegistry:
    return SocialRegistry(commerce_settings)


async def test_facebook_access_token_happy_path(
    registry: SocialRegistry, facebook: FakeFacebook
) -> None:
    facebook.add_user("10158000000000001", "Wei Lin", "wei@example.com")
    token = facebook.access_token("10158000000000001")
    identity = await registry.get("facebook").verify(SocialCredentials(access_token=token))
    assert (identity.provider, identity.subject, identity.name) == (
        "facebook",
        "10158000000000001",
        "Wei Lin",
    )
    assert (identity.email, identity.email_verified) == ("wei@example.com", True)


async def test_facebook_without_email(registry: SocialRegistry, facebook: FakeFacebook) -> None:
    facebook.add_user("2", "Phone Only")
    identity = await registry.get("facebook").verify(
        SocialCredentials(access_token=facebook.access_token("2"))
    )
    assert (identity.email, identity.email_verified) == (None, False)


async def test_facebook_refuses_tokens_of_other_apps_expired_and_unknown(
    registry: SocialRegistry, facebook: FakeFacebook
) -> None:
    facebook.add_user("3", "Someone", "someone@example.com")
    verifier = registry.get("facebook")
    foreign = facebook.access_token("3", app_id="999")
    with pytest.raises(InvalidSocialToken, match="another app"):
        await verifier.verify(SocialCredentials(access_token=foreign))
    expired = facebook.access_token("3", expires_in=-10)
    with pytest.raises(InvalidSocialToken, match="invalid or expired"):
        await verifier.verify(SocialCredentials(access_token=expired))
    with pytest.raises(InvalidSocialToken):
        await verifier.verify(SocialCredentials(access_token="EAAGnot-a-token"))


async def test_facebook_wrong_app_secret_is_refused(
    commerce_settings: CommerceSettings, facebook: FakeFacebook
) -> None:
    facebook.add_user("4", "Someone")
    settings = commerce_settings.model_copy(update={"facebook_app_secret": SecretStr("wrong")})
    with pytest.raises(InvalidSocialToken):
        await (
            SocialRegistry(settings)
            .get("facebook")
            .verify(SocialCredentials(access_token=facebook.access_token("4")))
        )


async def test_facebook_graph_down_is_provider_unavailable(
    registry: SocialRegistry, facebook: FakeFacebook
) -> None:
    facebook.add_user("5", "Someone")
    facebook.fail_status = 503
    with pytest.raises(ProviderUnavailable):
        await registry.get("facebook").verify(
            SocialCredentials(access_token=facebook.access_token("5"))
        )


async def test_facebook_limited_login(registry: SocialRegistry, facebook: FakeFacebook) -> None:
    verifier = registry.get("facebook")
    token = facebook.limited_token("10158000000000009", nonce="ios-nonce", email="a@b.co")
    identity = await verifier.verify(SocialCredentials(id_token=token, nonce="ios-nonce"))
    assert (identity.subject, identity.email, identity.email_verified) == (
        "10158000000000009",
        "a@b.co",
        True,
    )
    newer_issuer = facebook.limited_token("7", iss="https://limited.facebook.com")
    assert (await verifier.verify(SocialCredentials(id_token=newer_issuer))).subject == "7"
    for bad, nonce in [
        (facebook.limited_token("7", nonce="ios-nonce"), "other"),
        (facebook.limited_token("7", aud="555"), None),
        (facebook.limited_token("7", expires_in=-120), None),
    ]:
        with pytest.raises(InvalidSocialToken):
            await verifier.verify(SocialCredentials(id_token=bad, nonce=nonce))


async def test_facebook_needs_a_token(registry: SocialRegistry) -> None:
    with pytest.raises(InvalidSocialToken, match="access_token"):
        await registry.get("facebook").verify(SocialCredentials(code="abc"))


async def test_instagram_code_exchange(registry: SocialRegistry, instagram: FakeInstagram) -> None:
    code = instagram.authorization_code(17841405822304914, "shop.owner")
    identity = await registry.get("instagram").verify(SocialCredentials(code=code))
    assert (identity.provider, identity.subject, identity.name) == (
        "instagram",
        "17841405822304914",
        "shop.owner",
    )
    assert (identity.email, identity.email_verified) == (None, False)
    # Codes are single use.
    with pytest.raises(InvalidSocialToken, match="authorization code"):
        await registry.get("instagram").verify(SocialCredentials(code=code))


async def test_instagram_refusals(
    commerce_settings: CommerceSettings, registry: SocialRegistry, instagram: FakeInstagram
) -> None:
    with pytest.raises(InvalidSocialToken, match="code"):
        await registry.get("instagram").verify(SocialCredentials(id_token="x"))
    with pytest.raises(InvalidSocialToken):
        await registry.get("instagram").verify(SocialCredentials(code="AQBforged"))
    other_redirect = commerce_settings.model_copy(
        update={"instagram_redirect_uri": "https://elsewhere.example.com/"}
    )
    with pytest.raises(InvalidSocialToken):
        await (
            SocialRegistry(other_redirect)
            .get("instagram")
            .verify(SocialCredentials(code=instagram.authorization_code(1, "a")))
        )
