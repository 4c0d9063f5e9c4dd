"""Payment routes: start a payment, refund lines of an order, the providers' webhooks, and the
payment return page with the status it follows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from commerce import throttle
from commerce.deps import ClientIP, CtxDep, CurrentPrincipal, PayingPrincipal
from commerce.orders.dependencies import OrderId
from commerce.orders.schemas import OrderOut, RefundIn
from commerce.payments import refunds, returns, service, webhooks
from commerce.payments.gateways.base import RawNotification
from commerce.payments.schemas import PaymentCreate, PaymentOut, PaymentStatusOut

router = APIRouter(tags=["payments"])
# The payment return page and its assets, outside /api/v1 (commerce.app includes it).
pages = APIRouter(tags=["payments"], include_in_schema=False)
ASSET_TYPES = {"return.js": "text/javascript", "return.css": "text/css"}

Provider = Annotated[str, Path(min_length=1, max_length=16, pattern=r"^[a-z0-9_]+$")]


@router.post(
    "/orders/{order_id}/payments",
    status_code=201,
    response_model=PaymentOut,
    responses={
        409: {"description": "order_not_payable"},
        429: {"description": "rate_limited (per user and per address)"},
        502: {"description": "provider"},
    },
)
async def create_payment(
    order_id: OrderId, body: PaymentCreate, ctx: CtxDep, principal: PayingPrincipal
) -> PaymentOut:
    """Start a payment attempt; `action` tells the client what to do next."""
    return await service.create_payment(ctx, order_id=order_id, principal=principal, body=body)


@router.post(
    "/orders/{order_id}/refund",
    response_model=OrderOut,
    responses={
        403: {"description": "not a seller of the order, or another seller's lines"},
        409: {"description": "invalid_transition (not paid or fulfilled), already_refunded, "
                             "refund_exceeds_payment, refund_unsupported, refund_refused (the "
                             "provider said no; its code in details.provider_code)"},
        422: {"description": "unknown_lines: product_ids not in the order"},
        502: {"description": "payment_provider_error: no usable answer from the provider"},
    },
)
async def refund_order(
    order_id: OrderId, body: RefundIn, ctx: CtxDep, principal: CurrentPrincipal
) -> OrderOut:
    """Refund lines through the provider that took the payment: a seller their own lines, an
    admin any (`product_ids` omitted: every line the caller may refund). A partial refund
    unless every line goes back; refunded lines that had not shipped return to stock once; the
    order is `refunded` when every line is."""
    return await refunds.refund(ctx, order_id=order_id, principal=principal, body=body)


@router.post("/payments/webhooks/{provider}", responses={400: {"description": "invalid_signature"}})
async def payment_webhook(provider: Provider, request: Request, ctx: CtxDep) -> Response:
    """Provider notifications; answers what each provider expects (ECPay: `1|OK`)."""
    raw = RawNotification(
        headers=dict(request.headers), body=await request.body(),
        query=dict(request.query_params),
    )
    answer = await webhooks.receive_webhook(ctx, provider=provider, raw=raw)
    headers = {"Location": answer.location} if answer.location else None
    return Response(answer.body, status_code=answer.status_code, media_type=answer.media_type,
                    headers=headers)


@router.get(
    "/payments/webhooks/{provider}",
    responses={400: {"description": "invalid_signature"}, 429: {"description": "rate_limited"}},
)
async def payment_return(
    provider: Provider, request: Request, ctx: CtxDep, ip: ClientIP
) -> Response:
    """LINE Pay sends the shopper back to its confirm URL with `?transactionId=&orderId=`.

    Anonymous, and each one is checked with a call to LINE Pay's API: limited per address
    (`RATE_LIMIT_PAYMENT_RETURN_PER_IP`), so nobody can make us flood the provider."""
    await throttle.enforce(
        ctx.limiter, ctx.settings.rate_limits.payment_return_per_ip, "payment-return-ip", ip
    )
    return await payment_webhook(provider, request, ctx)


@router.get(
    "/payments/status",
    response_model=PaymentStatusOut,
    responses={404: {"description": "no payment with this reference"},
               429: {"description": "rate_limited"}},
)
async def payment_status(
    ctx: CtxDep, ip: ClientIP,
    ref: Annotated[str, Query(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$",
                              description="our reference at the provider (the return URL's)")],
) -> PaymentStatusOut:
    """A payment's and its order's state by the reference in the return URL (no login: the
    reference is the secret); what the payment return page follows."""
    limit = ctx.settings.rate_limits.payment_status_per_ip
    await throttle.enforce(ctx.limiter, limit, "payment-status-ip", ip)
    return await returns.payment_status(ctx, ref=ref)


@pages.get("/payments/return")
async def payment_return_page() -> Response:
    """Where the shopper lands after a provider's page; follows the order to paid."""
    return Response(returns.asset("return.html"), media_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": returns.PAGE_CSP,
                             "Cache-Control": "no-store"})


@pages.get("/payments/{name}")
async def payment_return_asset(name: str) -> Response:
    if name not in ASSET_TYPES:
        return Response(status_code=404)
    return Response(returns.asset(name), media_type=ASSET_TYPES[name],
                    headers={"Cache-Control": "public, max-age=300"})
