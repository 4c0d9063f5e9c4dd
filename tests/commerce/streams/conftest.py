"""Streams tests talk to the fake Cloudflare Stream API over real HTTP."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.settings import CommerceSettings
from tests.fakes.cloudflare_stream import (
    ACCOUNT,
    CUSTOMER_HOST,
    NOTIFICATION_SECRET,
    STREAM_SECRET,
    TOKEN,
    FakeCloudflareStream,
    serve_fake_cloudflare,
)


@pytest.fixture(scope="session")
def stream_signing_key() -> tuple[str, str]:
    """(base64 PEM as Cloudflare's `POST /stream/keys` returns it, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(private).decode(), public.decode()


@pytest.fixture
def fake_cf() -> Iterator[FakeCloudflareStream]:
    with serve_fake_cloudflare() as fake:
        yield fake


@pytest.fixture
def commerce_settings(
    commerce_settings: CommerceSettings,
    fake_cf: FakeCloudflareStream,
    stream_signing_key: tuple[str, str],
) -> CommerceSettings:
    return commerce_settings.updated(streams={"cloudflare": {
        "account_id": ACCOUNT,
        "api_token": TOKEN,
        "api_base": fake_cf.base_url,
        "stream_webhook_secret": STREAM_SECRET,
        "notification_secret": NOTIFICATION_SECRET,
        "signing_key_id": "8f926b2b01f383510025a78a4dcbf6a",
        "signing_key_pem": stream_signing_key[0],
        "customer_subdomain": CUSTOMER_HOST,
    }})
