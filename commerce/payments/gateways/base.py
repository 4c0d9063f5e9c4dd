"""The one interface every payment provider adapter implements, and the values it trades in.

Adapters hide each provider's wire format (form posts with MACs, encrypted blobs, signed JSON,
JWTs) behind four steps: `create_payment` (what the shopper's client must do next),
`verify_notification` (is this really from the provider? raise `SignatureMismatch` if not),
`parse_notification` (the provider-neutral facts the settlement task checks), and `refund`.
Amounts cross this boundary only as integer minor units; each adapter converts to the
provider's unit (whole TWD dollars, satang, decimal strings) at its own edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl

import httpx

from commerce.payment_wire.wire_errors import WireFormatError
from commerce.payments.errors import PaymentProviderError, RefundUnsupported
from shared.tls import client_tls

NotificationStatus = Literal["succeeded", "failed", "pending", "authorized"]


class IrrelevantNotification(Exception):
    """Authentic, but about nothing we settle (e.g. an Omise `refund.create` event): the
    webhook answers the provider as usual and stores nothing."""


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """One payment attempt as an adapter needs it. `trade_no` is our reference at the provider."""

    trade_no: str
    method: str
    amount_minor: int
    currency: str
    description: str
    notify_url: str
    return_url: str
    cancel_url: str
    token: str | None = None  # card token (Omise) or wallet payment data (Apple/Google Pay)
    phone_number: str | None = None  # TrueMoney wallet
    email: str | None = None


@dataclass(frozen=True, slots=True)
class CreatedPayment:
    """What the client does next (`action`) and the provider's id for the attempt, if any.

    `settled` is set when the provider's answer to our own authenticated call is already the
    result (TapPay without a 3-D Secure step): it is recorded like a verified notification."""

    action: dict[str, Any]
    provider_txn_id: str | None = None
    settled: ParsedNotification | None = None


@dataclass(frozen=True, slots=True)
class RawNotification:
    """A webhook request exactly as received: nothing decoded or trusted yet."""

    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)

    def form(self) -> dict[str, str]:
        """The body as `application/x-www-form-urlencoded` fields (last value wins)."""
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WireFormatError("notification body is not UTF-8") from exc
        return dict(parse_qsl(text, keep_blank_values=True))


@dataclass(frozen=True, slots=True)
class VerifiedNotification:
    """Data whose origin has been proven (MAC checked, decrypted, or re-fetched from the API)."""

    provider: str
    data: dict[str, Any]
    raw: str


@dataclass(frozen=True, slots=True)
class ParsedNotification:
    """The provider-neutral facts of one notification.

    `amount_minor`/`currency` are None only when the provider states them later (LINE Pay's
    confirm): `status == "authorized"` then means "call `confirm` before trusting anything".
    """

    provider_event_id: str
    provider_ref: str
    amount_minor: int | None
    currency: str | None
    status: NotificationStatus
    provider_txn_id: str | None
    raw: str


@dataclass(frozen=True, slots=True)
class RefundResult:
    provider_refund_id: str
    amount_minor: int


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    """The HTTP answer the provider expects, or it keeps retrying (ECPay wants `1|OK`)."""

    status_code: int = 200
    body: str = "OK"
    media_type: str = "text/plain"
    location: str | None = None  # a redirect, when a shopper's browser is the caller


class PaymentGateway(Protocol):
    name: str

    async def create_payment(self, request: PaymentRequest) -> CreatedPayment: ...

    async def verify_notification(self, raw: RawNotification) -> VerifiedNotification: ...

    def parse_notification(self, verified: VerifiedNotification) -> ParsedNotification: ...

    async def confirm(
        self, parsed: ParsedNotification, *, amount_minor: int, currency: str
    ) -> ParsedNotification: ...

    async def refund(
        self, *, provider_ref: str, provider_txn_id: str | None, amount_minor: int, currency: str
    ) -> RefundResult: ...

    async def query(self, *, provider_ref: str, provider_txn_id: str | None,
                    amount_minor: int, currency: str) -> ParsedNotification: ...

    def answer(self, parsed: ParsedNotification | None) -> WebhookAnswer: ...


class GatewayDefaults:
    """Behaviour most adapters share; each overrides what its provider documents."""

    name: str = ""
    timeout_s: float = 10.0
    # Where HTTP calls go: None is the network; the local sandbox passes an in-process transport
    # (commerce/sandbox/payments), so the same adapter code runs against it with no network.
    transport: httpx.AsyncBaseTransport | None = None

    async def confirm(
        self, parsed: ParsedNotification, *, amount_minor: int, currency: str
    ) -> ParsedNotification:
        """Most providers notify only after capture: nothing left to confirm."""
        return parsed

    async def refund(
        self, *, provider_ref: str, provider_txn_id: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        raise RefundUnsupported()

    async def query(self, *, provider_ref: str, provider_txn_id: str | None,
                    amount_minor: int, currency: str) -> ParsedNotification:
        raise PaymentProviderError(f"{self.name} has no status query", code="query_unsupported")

    def answer(self, parsed: ParsedNotification | None) -> WebhookAnswer:
        return WebhookAnswer()

    def client(self, base_url: str, **kwargs: Any) -> httpx.AsyncClient:
        """A short-lived client with explicit timeouts (one per call: adapters run on the API's
        loop and on Celery's worker loop, and a pooled client must not cross loops)."""
        timeout = httpx.Timeout(self.timeout_s, connect=min(5.0, self.timeout_s))
        return httpx.AsyncClient(
            base_url=base_url, timeout=timeout, transport=self.transport,
            verify=client_tls(), **kwargs
        )


async def send(client: httpx.AsyncClient, request: httpx.Request, provider: str) -> httpx.Response:
    """Send and turn transport failures into `PaymentProviderError` (a 502 for our caller)."""
    try:
        return await client.send(request)
    except httpx.HTTPError as exc:
        raise PaymentProviderError(f"{provider} is unreachable: {type(exc).__name__}") from exc


def minor_from_whole(value: object) -> int:
    """A whole-unit amount as the provider printed it ("1290") -> minor units (129000)."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()):
        raise WireFormatError(f"amount {text!r} is not a whole number")
    return int(text) * 100
