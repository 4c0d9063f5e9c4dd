"""Media tests run against moto's S3 server over real HTTP (what R2 speaks), one bucket each."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from shared.settings import CommerceSettings
from tests.helpers.procs import free_port

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"  # moto accepts any credentials


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    name = f"media-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(region_name="us-east-1"),
    )
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_client(s3_endpoint: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(region_name="us-east-1"),
    )


@pytest.fixture
def commerce_settings(
    commerce_settings: CommerceSettings, s3_endpoint: str, s3_bucket: str
) -> CommerceSettings:
    return commerce_settings.updated(media={
        "backend": "s3",
        "s3": {"endpoint_url": s3_endpoint, "bucket": s3_bucket, "access_key_id": ACCESS_KEY,
               "secret_access_key": SECRET_KEY},
        "max_upload_bytes": 2_000_000,
        "max_pixels": 25_000_000,
    })
