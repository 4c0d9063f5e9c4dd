"""LINE ID tokens (HS256 from web login, ES256 from the SDKs) through the verify endpoint."""

from __future__ import annotations

import pytest

from commerce.auth.social.base import SocialCredentials
from commerce.auth.social.errors import InvalidSocialToken, ProviderUnavailable
from commerce.auth.social.registry import SocialRegistry
from shared.settings import CommerceSettings
from tests.fakes.social.line import FakeLine
from tests.helpers.procs import free_port


@pytest.fixture
def registry(commerce_settings: CommerceSettings) -> SocialRegistry:
    return SocialRegistry(commerce_settings)


@pytest.mark.parametrize("alg", ["HS256", "ES256"])
async def test_line_happy_path(registry: SocialRegistry, line: FakeLine, alg: str) -> None:
    token = line.id_token("U1234", alg=alg, nonce="n-1")
    identity = await registry.get("line").verify(SocialCredentials(id_token=token, nonce="n-1"))
    assert (identity.provider, identity.subject, identity.name) == ("line", "U1234", "Somsak")
    assert identity.email == "somsak@example.co.th"
    assert identity.email_verified is True
    assert line.hits["/oauth2/v2.1/verify"] == 1


async def test_line_without_email_permission(registry: SocialRegistry, line: FakeLine) -> None:
    identity = await registry.get("line").verify(
        SocialCredentials(id_token=line.id_token(email=None))
    )
    assert (identity.email, identity.email_verified) == (None, False)


async def test_line_email_not_trusted_when_configured_so(
    commerce_settings: CommerceSettings, line: FakeLine
) -> None:
    settings = commerce_settings.model_copy(update={"line_trust_email": False})
    identity = (
        await SocialRegistry(settings)
        .get("line")
        .verify(SocialCredentials(id_token=line.id_token()))
    )
    assert (identity.email, identity.email_verified) == ("somsak@example.co.th", False)


@pytest.mark.parametrize(
    ("make", "nonce", "message"),
    [
        (lambda f: f.id_token(nonce="n-1"), "n-2", "Nonce"),
        (lambda f: f.id_token(nonce="n-1"), None, "nonce"),
        (lambda f: f.id_token(channel_id="1999999999", secret="s"), None, "Invalid IdToken"),
        (lambda f: f.id_token(expires_in=-60), None, "expired"),
        (lambda f: f.id_token(secret="not-the-channel-secret"), None, "Invalid IdToken"),
        (lambda f: f.id_token(alg="ES256")[:-6] + "AAAAAA", None, "Invalid IdToken"),
    ],
    ids=["wrong-nonce", "missing-nonce", "other-channel", "expired", "bad-hs256", "bad-es256"],
)
async def test_line_refusals(
    registry: SocialRegistry, line: FakeLine, make: object, nonce: str | None, message: str
) -> None:
    token = make(line)  # type: ignore[operator]
    with pytest.raises(InvalidSocialToken, match=message) as caught:
        await registry.get("line").verify(SocialCredentials(id_token=token, nonce=nonce))
    assert caught.value.status == 401


async def test_line_down_or_slow_is_provider_unavailable(
    commerce_settings: CommerceSettings, registry: SocialRegistry, line: FakeLine
) -> None:
    line.delay_s = 2.0
    with pytest.raises(ProviderUnavailable, match="ReadTimeout"):
        await registry.get("line").verify(SocialCredentials(id_token=line.id_token()))
    line.delay_s = 0
    line.fail_status = 502
    with pytest.raises(ProviderUnavailable, match="502"):
        await registry.get("line").verify(SocialCredentials(id_token=line.id_token()))
    closed = commerce_settings.model_copy(
        update={"line_api_base": f"http://127.0.0.1:{free_port()}"}
    )
    with pytest.raises(ProviderUnavailable, match="ConnectError"):
        await SocialRegistry(closed).get("line").verify(SocialCredentials(id_token=line.id_token()))
