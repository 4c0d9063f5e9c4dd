"""Errors raised by the payment wire-format primitives in this package.

They subclass `ValueError` and know nothing of HTTP: the adapters built on these primitives
decide what a bad signature means for their caller (the webhook route answers 400). Keeping
one small hierarchy lets an adapter catch "anything wrong with what the provider sent" in one
`except WireFormatError` without also swallowing programming errors.
"""

from __future__ import annotations


class WireFormatError(ValueError):
    """Input that does not follow the provider's documented wire format."""


class SignatureMismatch(WireFormatError):
    """The message is well formed but its MAC or signature does not verify."""
