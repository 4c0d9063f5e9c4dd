"""Placing an order: validate, pass the stock gate (which also checks revocation and the
idempotency marker in the same Redis round trip), then the checkout transaction
(`transaction`, grouped with concurrent orders of the same product by `group_commit`), and the
replay and give-back rules around it.
"""

from __future__ import annotations

import dataclasses

from commerce.carts import service as cart_service
from commerce.context import AppContext
from commerce.metrics import ORDERS_REJECTED
from commerce.orders import idempotency as idem
from commerce.orders import reservations
from commerce.orders.errors import OrderInputError, OutOfStock
from commerce.orders.group_commit import group_commit
from commerce.orders.schemas import MAX_LINES, MAX_QUANTITY, OrderCreate
from commerce.orders.stock_gate import FirstAnswer, KeyCheck, Revoked
from commerce.orders.transaction import SCOPE, CheckoutRequest, DuplicateKey
from shared.errors import Unauthorized
from shared.tokens import Principal, ensure_not_revoked


async def place_order(
    *,
    ctx: AppContext,
    principal: Principal,
    body: OrderCreate,
    idempotency_key: str | None,
    revocation_checked: bool = True,
) -> idem.StoredResponse:
    """Create an order (201), or answer a repeated key with its first answer: the stored
    success, or the stored rejection raised again (`idempotency`).

    `revocation_checked=False`: `principal`'s signature is verified but not its revocation;
    this function checks it before anything else reads or changes state, inside the stock
    gate's script when the gate runs (one Redis round trip for both), else on its own.
    """
    key = idem.check_key(idempotency_key)
    digest = idem.request_hash(body.model_dump(mode="json")) if key else ""
    gate = reservations.gate(ctx) if ctx.settings.order_stock_gate_enabled else None
    if not revocation_checked and (gate is None or body.from_cart):
        await ensure_not_revoked(ctx.redis, principal)
        revocation_checked = True
    # The gate's script looks for the key's first answer itself. Elsewhere look first: for a
    # cart order before the cart is read, as the first success cleared it.
    if key and (gate is None or body.from_cart) and (
        stored := await _first_answer(ctx, principal.user_id, key, digest)
    ):
        return stored
    lines = await _lines(ctx, principal.user_id, body)
    request = CheckoutRequest(principal, body, lines, key, digest)

    if gate is not None:
        check = KeyCheck(
            *idem.answer_keys(principal.user_id, SCOPE, key), digest,
            ctx.settings.order_rejection_replay_ttl_s,
        ) if key else None
        rejected = await gate.take(
            lines, key_check=check, unrevoked=None if revocation_checked else principal
        )
        if isinstance(rejected, Revoked):
            raise Unauthorized("token revoked")
        if rejected is not None:
            # The cheap path of a flash sale: one Redis round trip, which also stored this
            # answer as the key's first unless the success marker exists. If it does, a stored
            # success wins (an earlier request, or a concurrent retry that committed).
            if key and rejected.marked and (
                stored := await _find(ctx, principal.user_id, key, digest)
            ):
                return stored
            if isinstance(rejected, FirstAnswer):
                raise idem.replay_rejection(rejected.stored, digest)
            raise OutOfStock(product_id=rejected.product_id, available=rejected.available)
        request = dataclasses.replace(request, marked=check is not None)
    committed = False
    try:
        stored, stocks = await group_commit(ctx).checkout(request)
        committed = stocks is not None
    except DuplicateKey:
        replay = await _find(ctx, principal.user_id, key or "", digest)
        if replay is None:  # the record was purged between the two reads (after 24 hours)
            raise
        stored, stocks = replay, None
    except (OrderInputError, OutOfStock) as exc:
        # A retry of an order that succeeded may fail today (product deleted, stream ended,
        # sold out): the stored response wins, as it would have with a SELECT first.
        if key and (replay := await _first_answer(ctx, principal.user_id, key, digest)):
            stored, stocks = replay, None
        else:
            ORDERS_REJECTED.labels(str(exc.code)).inc()
            if key:
                await idem.remember_rejection(
                    ctx.redis, user_id=principal.user_id, scope=SCOPE, key=key, digest=digest,
                    exc=exc, ttl_s=ctx.settings.order_rejection_replay_ttl_s,
                )
            raise
    finally:
        if gate is not None and not committed:
            await gate.give_back(lines)
    if stocks is not None and body.from_cart:
        await cart_service.clear_cart(ctx, principal.user_id)
    return stored


async def _first_answer(
    ctx: AppContext, user_id: int, key: str, digest: str
) -> idem.StoredResponse | None:
    """The key's first answer: a stored success (returned; the database is asked only if the
    marker says maybe), a stored rejection (raised again), or None for a new key."""
    may_exist, rejection = await idem.stored_answer(
        ctx.redis, user_id=user_id, scope=SCOPE, key=key
    )
    if may_exist and (stored := await _find(ctx, user_id, key, digest)):
        return stored
    if rejection is not None:
        raise idem.replay_rejection(rejection, digest)
    return None


async def _find(ctx: AppContext, user_id: int, key: str, digest: str) -> idem.StoredResponse | None:
    async with ctx.sessions() as session:
        return await idem.find(session, user_id=user_id, scope=SCOPE, key=key, digest=digest)


async def _lines(ctx: AppContext, user_id: int, body: OrderCreate) -> dict[int, int]:
    if body.items is not None:
        return {line.product_id: line.quantity for line in body.items}
    lines = await cart_service.read_cart(ctx, user_id)
    if not lines:
        raise OrderInputError("the cart is empty", code="cart_empty")
    if len(lines) > MAX_LINES or any(not 1 <= q <= MAX_QUANTITY for q in lines.values()):
        raise OrderInputError(
            f"a cart order takes 1-{MAX_LINES} lines of 1-{MAX_QUANTITY} units",
            code="invalid_cart",
        )
    return lines
