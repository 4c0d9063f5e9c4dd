"""QR codes as PNG bytes (payment QR codes, 2FA enrolment): one renderer for both."""

from __future__ import annotations

import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M


def render_png(text: str, *, box_size: int = 10, border: int = 4) -> bytes:
    """Render `text` as a PNG QR code, error correction M (recovers ~15% damage)."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=border)
    qr.add_data(text)
    qr.make(fit=True)
    image = qr.make_image(fill_color="black", back_color="white")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
