"""Checking uploaded bytes and making thumbnails (pure, synchronous: run in a thread).

The client's Content-Type and file name prove nothing, so the type comes from the bytes
(libmagic via python-magic) and must be JPEG, PNG or WebP, and match what was announced when the
URL was issued. The pixel count is read from the header (`Image.open` decodes no pixels) and
checked before anything is decoded: a few-KB PNG can claim 50,000 x 50,000 pixels and would
need gigabytes once decoded (a decompression bomb).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import magic
from PIL import Image, ImageOps, UnidentifiedImageError

from shared.errors import AppError, ErrorCode

# real MIME type -> Pillow format name
ALLOWED: dict[str, str] = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
SNIFF_BYTES = 8192


class ImageRejected(AppError):
    status = 422
    code = "invalid_image"
    message = "the upload is not an acceptable image"


@dataclass(frozen=True)
class ImageInfo:
    mime: str
    width: int
    height: int


def inspect(data: bytes, *, declared: str, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Raise ImageRejected unless `data` is a sane JPEG/PNG/WebP of the declared type."""
    if len(data) > max_bytes:
        raise ImageRejected(
            f"the file is {len(data)} bytes; the limit is {max_bytes}",
            code=ErrorCode.PAYLOAD_TOO_LARGE,
            status=413,
        )
    real = magic.from_buffer(data[:SNIFF_BYTES], mime=True)
    if real not in ALLOWED:
        raise ImageRejected(
            f"the file is {real}; only JPEG, PNG and WebP images are accepted",
            code=ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            status=415,
        )
    if real != declared:
        raise ImageRejected(
            f"the file is {real} but was announced as {declared}",
            code="content_type_mismatch",
            status=415,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[ALLOWED[real]]) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise _too_many_pixels(width, height, max_pixels)
                img.verify()  # structure and checksums, still without decoding pixels
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("the image has too many pixels", code="image_too_large") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"the image is damaged: {exc}") from None
    return ImageInfo(real, width, height)


def _too_many_pixels(width: int, height: int, max_pixels: int) -> ImageRejected:
    return ImageRejected(
        f"the image is {width}x{height} pixels; the limit is {max_pixels} pixels",
        code="image_too_large",
    )


def thumbnails(data: bytes, sizes: list[int], *, max_pixels: int) -> dict[int, bytes]:
    """WebP renditions fitting in `size` x `size` boxes (never upscaled), EXIF-rotated."""
    out: dict[int, bytes] = {}
    with Image.open(io.BytesIO(data)) as original:
        width, height = original.size
        if width * height > max_pixels:  # re-checked: the task may run on other bytes
            raise _too_many_pixels(width, height, max_pixels)
        if original.format == "JPEG":
            original.draft("RGB", (max(sizes), max(sizes)))  # decode at reduced scale
        img = ImageOps.exif_transpose(original)
        has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
        for size in sorted(set(sizes)):
            copy = img.copy()
            copy.thumbnail((size, size), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            copy.save(buffer, "WEBP", quality=82, method=4)
            out[size] = buffer.getvalue()
    return out
