"""The one interface every outbound channel implements, and its failure type.

An adapter sends one message and either returns or raises `SendFailed`. `retryable` says whether
sending the same message again may succeed (timeouts, 429, 5xx) or never will (a rejected
address, bad credentials): the delivery service retries only the former, with back-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

ChannelName = Literal["email", "sms"]


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    channel: ChannelName
    to: str
    subject: str
    text: str
    kind: str
    locale: str
    # Stable per (notification, channel): providers that deduplicate get it as their key.
    idempotency_key: str


class SendFailed(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Channel(Protocol):
    name: ChannelName
    provider: str

    async def send(self, message: OutgoingMessage) -> None: ...


def http_failure(provider: str, status: int, body: str) -> SendFailed:
    """A provider's HTTP error answer as a `SendFailed` (429 and 5xx are worth retrying)."""
    return SendFailed(
        f"{provider} answered {status}: {body[:300]}",
        retryable=status == 429 or status >= 500,
    )
