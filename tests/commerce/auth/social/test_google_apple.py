"""Google and Apple ID tokens, verified locally against the fakes' published keys."""

from __future__ import annotations

import pytest

from commerce.auth.social.base import SocialCredentials
from commerce.auth.social.errors import InvalidSocialToken, ProviderUnavailable
from commerce.auth.social.registry import SocialRegistry
from shared.settings import CommerceSettings
from tests.fakes.social.apple import FakeApple
from tests.fakes.social.common import make_key
from tests.fakes.social.google import FakeGoogle


@pytest.fixture
def registry(commerce_settings: CommerceSettings) -> SocialRegistry:
    return SocialRegistry(commerce_settings)


async def test_google_happy_path_and_second_client_id(
    registry: SocialRegistry, google: FakeGoogle
) -> None:
    verifier = registry.get("google")
    identity = await verifier.verify(SocialCredentials(id_token=google.id_token("g-1")))
    assert identity.provider == "google"
    assert (identity.subject, identity.email, identity.email_verified, identity.name) == (
        "g-1",
        "shopper@gmail.com",
        True,
        "Mei Chen",
    )
    android = google.id_token(
        "g-1", aud="android-client.apps.googleusercontent.com", iss="accounts.google.com"
    )
    assert (await verifier.verify(SocialCredentials(id_token=android))).subject == "g-1"


async def test_google_unverified_email_is_reported_unverified(
    registry: SocialRegistry, google: FakeGoogle
) -> None:
    token = google.id_token(email="someone@example.com", email_verified=False)
    identity = await registry.get("google").verify(SocialCredentials(id_token=token))
    assert identity.email == "someone@example.com"
    assert identity.email_verified is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"aud": "someone-elses-client.apps.googleusercontent.com"}, "another app"),
        ({"expires_in": -300}, "expired"),
        ({"iss": "https://evil.example.com"}, "issued by someone else"),
    ],
)
async def test_google_refuses_wrong_audience_expired_and_foreign_issuer(
    registry: SocialRegistry, google: FakeGoogle, kwargs: dict[str, object], message: str
) -> None:
    token = google.id_token(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidSocialToken, match=message) as caught:
        await registry.get("google").verify(SocialCredentials(id_token=token))
    assert (caught.value.status, caught.value.code) == (401, "invalid_social_token")


async def test_google_refuses_a_bad_signature(registry: SocialRegistry, google: FakeGoogle) -> None:
    # Another key claiming the published key's id: the signature cannot match.
    forged_key = make_key("RS256", 5, kid=google.keys[0].kid)
    token = google.id_token(key=forged_key)
    with pytest.raises(InvalidSocialToken, match="signature"):
        await registry.get("google").verify(SocialCredentials(id_token=token))
    tampered = google.id_token()
    head, body, sig = tampered.split(".")
    with pytest.raises(InvalidSocialToken):
        await registry.get("google").verify(SocialCredentials(id_token=f"{head}.{body}x.{sig}"))


async def test_google_refuses_hs256_and_none_algorithms(
    registry: SocialRegistry, google: FakeGoogle
) -> None:
    from jose import jwt

    claims = {
        "iss": "https://accounts.google.com",
        "aud": google.client_id,
        "sub": "x",
        "iat": 1,
        "exp": 4_000_000_000,
    }
    hs = jwt.encode(claims, "secret", algorithm="HS256", headers={"kid": google.keys[0].kid})
    for token in (hs, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "not-a-jwt"):
        with pytest.raises(InvalidSocialToken):
            await registry.get("google").verify(SocialCredentials(id_token=token))


async def test_google_nonce_must_match_when_bound(
    registry: SocialRegistry, google: FakeGoogle
) -> None:
    verifier = registry.get("google")
    token = google.id_token(nonce="n-123")
    assert (await verifier.verify(SocialCredentials(id_token=token, nonce="n-123"))).subject
    with pytest.raises(InvalidSocialToken, match="nonce"):
        await verifier.verify(SocialCredentials(id_token=token, nonce="n-999"))
    with pytest.raises(InvalidSocialToken, match="nonce"):
        await verifier.verify(SocialCredentials(id_token=token))


async def test_google_keys_are_cached_and_refetched_on_rotation(
    registry: SocialRegistry, google: FakeGoogle
) -> None:
    verifier = registry.get("google")
    for _ in range(3):
        await verifier.verify(SocialCredentials(id_token=google.id_token()))
    assert google.hits["/oauth2/v3/certs"] == 1
    registry.jwks._refetch_interval_s = 0  # the production guard is 30 s between refetches
    new_key = google.rotate()
    await verifier.verify(SocialCredentials(id_token=google.id_token(key=new_key)))
    assert google.hits["/oauth2/v3/certs"] == 2


async def test_unknown_key_ids_do_not_hammer_the_provider(
    registry: SocialRegistry, google: FakeGoogle
) -> None:
    verifier = registry.get("google")
    await verifier.verify(SocialCredentials(id_token=google.id_token()))
    stranger = make_key("RS256", 6)
    for _ in range(5):
        with pytest.raises(InvalidSocialToken, match="unknown key"):
            await verifier.verify(SocialCredentials(id_token=google.id_token(key=stranger)))
    assert google.hits["/oauth2/v3/certs"] == 1


async def test_cached_keys_keep_serving_while_the_provider_is_down(
    registry: SocialRegistry, google: FakeGoogle
) -> None:
    google.max_age = 0  # expires at once (clamped to the minimum TTL, set to 0 here)
    registry.jwks._min_ttl_s = 0
    verifier = registry.get("google")
    await verifier.verify(SocialCredentials(id_token=google.id_token()))
    google.fail_status = 503
    identity = await verifier.verify(SocialCredentials(id_token=google.id_token()))
    assert identity.subject
    assert google.hits["/oauth2/v3/certs"] == 2  # it did try


async def test_google_unreachable_or_slow_is_provider_unavailable(
    registry: SocialRegistry, google: FakeGoogle
) -> None:
    google.fail_status = 500
    with pytest.raises(ProviderUnavailable) as caught:
        await registry.get("google").verify(SocialCredentials(id_token=google.id_token()))
    assert (caught.value.status, caught.value.code) == (503, "provider_unavailable")
    google.fail_status = None
    google.delay_s = 2.0  # the timeout is 0.5 s in these tests
    with pytest.raises(ProviderUnavailable, match="ReadTimeout"):
        await registry.get("google").verify(SocialCredentials(id_token=google.id_token()))


async def test_missing_id_token_is_invalid(registry: SocialRegistry) -> None:
    with pytest.raises(InvalidSocialToken, match="id_token"):
        await registry.get("google").verify(SocialCredentials(access_token="x"))


async def test_apple_happy_path_with_hashed_nonce(
    registry: SocialRegistry, apple: FakeApple
) -> None:
    token = apple.id_token("001.abc.002", raw_nonce="raw-nonce-1")
    identity = await registry.get("apple").verify(
        SocialCredentials(id_token=token, nonce="raw-nonce-1")
    )
    assert identity.provider == "apple"
    assert identity.subject == "001.abc.002"
    assert identity.email == "x7hd2k@privaterelay.appleid.com"
    assert identity.email_verified is True  # "true" as a string, as Apple sends it


async def test_apple_nonce_is_compared_hashed(registry: SocialRegistry, apple: FakeApple) -> None:
    import hashlib

    token = apple.id_token(raw_nonce="raw-nonce-1")
    verifier = registry.get("apple")
    with pytest.raises(InvalidSocialToken, match="nonce"):
        await verifier.verify(SocialCredentials(id_token=token, nonce="raw-nonce-2"))
    # The digest is visible in the token: presenting it as the nonce must not work.
    digest = hashlib.sha256(b"raw-nonce-1").hexdigest()
    with pytest.raises(InvalidSocialToken, match="nonce"):
        await verifier.verify(SocialCredentials(id_token=token, nonce=digest))
    with pytest.raises(InvalidSocialToken, match="nonce"):
        await verifier.verify(SocialCredentials(id_token=token))


@pytest.mark.parametrize("flag", [True, "true", False, "false"])
async def test_apple_email_verified_string_or_bool(
    registry: SocialRegistry, apple: FakeApple, flag: object
) -> None:
    token = apple.id_token(email="buyer@icloud.com", email_verified=flag)  # type: ignore[arg-type]
    identity = await registry.get("apple").verify(SocialCredentials(id_token=token))
    assert identity.email_verified is (flag in (True, "true"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"aud": "com.other.app"}, "another app"), ({"expires_in": -120}, "expired")],
)
async def test_apple_refuses_wrong_audience_and_expired(
    registry: SocialRegistry, apple: FakeApple, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidSocialToken, match=message):
        await registry.get("apple").verify(
            SocialCredentials(id_token=apple.id_token(**kwargs))  # type: ignore[arg-type]
        )


async def test_apple_refuses_a_bad_signature(registry: SocialRegistry, apple: FakeApple) -> None:
    token = apple.id_token(key=make_key("RS256", 7, kid=apple.keys[0].kid))
    with pytest.raises(InvalidSocialToken, match="signature"):
        await registry.get("apple").verify(SocialCredentials(id_token=token))
