"""`/api/v1/sandbox/payments/*` (development only; `commerce.sandbox.router` includes it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from commerce.deps import CtxDep, CurrentPrincipal
from commerce.orders.schemas import DB_ID_MAX
from commerce.sandbox.payments import service
from commerce.sandbox.payments.schemas import SandboxPaymentIn, SandboxPaymentOut

router = APIRouter(prefix="/payments")

PaymentId = Annotated[int, Path(ge=1, le=DB_ID_MAX, description="payment id")]


@router.post(
    "/{payment_id}",
    response_model=SandboxPaymentOut,
    responses={404: {"description": "not_found (also someone else's payment)"},
               409: {"description": "sandbox_not_active, sandbox_payment_unknown, "
                                    "sandbox_already_completed"}},
)
async def complete_sandbox_payment(
    payment_id: PaymentId, body: SandboxPaymentIn, request: Request, ctx: CtxDep,
    principal: CurrentPrincipal,
) -> SandboxPaymentOut:
    """Settle a payment in its provider's sandbox as paid or failed (the order's buyer only):
    the sandbox sends the provider's signed notification to our webhook."""
    return await service.complete_payment(
        ctx, request.app, payment_id=payment_id, principal=principal, outcome=body.outcome
    )
