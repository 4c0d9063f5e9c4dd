"""Object storage behind one interface: R2 (any S3-compatible store) or the local disk.

`S3Storage` uses boto3, configured the way R2 needs it: region `auto`, path-style addressing, and
checksums only when an operation requires them (boto3 >= 1.36 otherwise adds CRC32 checksums R2
rejects: `request_checksum_calculation` / `response_checksum_validation = "when_required"`).
Presigned PUTs sign `ContentType`, so the client must upload with the type it announced. boto3
is synchronous, so every call runs in a worker thread.

`LocalStorage` (the embedded default) keeps objects under `var/media/` and issues its own
"presigned" URLs: an HMAC over (key, content type, expiry) checked by the API's local upload
route, so the client does exactly what it would do against R2.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast
from urllib.parse import quote, urlencode

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import Unavailable
from shared.settings import CommerceSettings


@dataclass(frozen=True)
class PresignedPut:
    url: str
    headers: dict[str, str]
    expires_at: int


class MediaStorage(Protocol):
    async def presign_put(self, key: str, *, content_type: str, ttl_s: int) -> PresignedPut: ...

    async def size(self, key: str) -> int | None:
        """Bytes stored under `key`, or None if there is no such object."""
        ...

    async def read(self, key: str) -> bytes: ...

    async def put(self, key: str, data: bytes, *, content_type: str) -> None: ...

    async def delete(self, key: str) -> None: ...

    def public_url(self, key: str) -> str: ...


class StorageError(Unavailable):
    message = "object storage failed"


class S3Storage:
    def __init__(self, settings: CommerceSettings, *, public_base_url: str) -> None:
        secret = settings.media.s3.secret_access_key
        self.bucket = settings.media.s3.bucket
        self._public = public_base_url.rstrip("/")
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=settings.media.s3.endpoint_url,
            aws_access_key_id=settings.media.s3.access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            config=Config(
                region_name=settings.media.s3.region,
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    async def _run(self, method: str, **params: Any) -> Any:
        try:
            return await asyncio.to_thread(getattr(self.client, method), **params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                raise FileNotFoundError(params.get("Key")) from None
            raise StorageError(details={"operation": method}) from exc
        except BotoCoreError as exc:
            raise StorageError(details={"operation": method}) from exc

    async def presign_put(self, key: str, *, content_type: str, ttl_s: int) -> PresignedPut:
        url = await asyncio.to_thread(
            self.client.generate_presigned_url,
            "put_object",
            Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type},
            ExpiresIn=ttl_s,
        )
        return PresignedPut(url, {"Content-Type": content_type}, int(time.time()) + ttl_s)

    async def size(self, key: str) -> int | None:
        try:
            head = await self._run("head_object", Bucket=self.bucket, Key=key)
        except FileNotFoundError:
            return None
        return int(head["ContentLength"])

    async def read(self, key: str) -> bytes:
        response = await self._run("get_object", Bucket=self.bucket, Key=key)
        return cast(bytes, await asyncio.to_thread(response["Body"].read))

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        await self._run(
            "put_object",
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            CacheControl="public, max-age=31536000, immutable",
        )

    async def delete(self, key: str) -> None:
        await self._run("delete_object", Bucket=self.bucket, Key=key)

    def public_url(self, key: str) -> str:
        return f"{self._public}/{quote(key)}"


LOCAL_ROUTE = "/api/v1/media/local"
# Object keys we write: `uploads/<id>/<hex>.<ext>`, `products/<id>/<hex>-<size>.webp`, ...
_SAFE_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._/-]{0,254}")


class LocalStorage:
    def __init__(self, root: Path, *, base_url: str, secret: str) -> None:
        self.root = root.resolve()
        self._base = base_url.rstrip("/")
        self._secret = secret.encode()

    def _path(self, key: str) -> Path:
        """The file for `key`, or FileNotFoundError for anything that is not a plain key under
        the root: NUL and other odd characters (`Path.resolve` raises ValueError on NUL), `..`,
        absolute paths, and keys that resolve outside the root."""
        if not _SAFE_KEY.fullmatch(key) or ".." in key.split("/"):
            raise FileNotFoundError(key)
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise FileNotFoundError(key)
        return path

    def signature(self, key: str, content_type: str, expires: int) -> str:
        message = f"{key}\n{content_type}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def check_signature(self, key: str, content_type: str, expires: int, sig: str) -> bool:
        fresh = expires >= time.time()
        return fresh and hmac.compare_digest(self.signature(key, content_type, expires), sig)

    async def presign_put(self, key: str, *, content_type: str, ttl_s: int) -> PresignedPut:
        expires = int(time.time()) + ttl_s
        query = urlencode({"expires": expires, "sig": self.signature(key, content_type, expires)})
        return PresignedPut(
            f"{self._base}{LOCAL_ROUTE}/{quote(key)}?{query}",
            {"Content-Type": content_type},
            expires,
        )

    async def size(self, key: str) -> int | None:
        """The object's size; None when there is none (a directory is not an object)."""
        try:
            path = self._path(key)
        except FileNotFoundError:
            return None
        return path.stat().st_size if path.is_file() else None

    async def read(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".part")
            tmp.write_bytes(data)
            tmp.replace(path)  # readers never see half a file

        await asyncio.to_thread(write)

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):  # a key outside the root
            self._path(key).unlink(missing_ok=True)

    def public_url(self, key: str) -> str:
        return f"{self._base}{LOCAL_ROUTE}/{quote(key)}"


def build_storage(settings: CommerceSettings) -> MediaStorage:
    """The storage these settings name (built once per `AppContext`: `AppContext.media`)."""
    if settings.media.backend == "s3":
        public = settings.media.public_base_url or (
            f"{(settings.media.s3.endpoint_url or '').rstrip('/')}/{settings.media.s3.bucket}"
        )
        return S3Storage(settings, public_base_url=public)
    return LocalStorage(
        settings.media.local_dir,
        base_url=settings.media.public_base_url or f"http://{settings.host}:{settings.port}",
        secret=settings.media.local_signing_secret.get_secret_value(),
    )
