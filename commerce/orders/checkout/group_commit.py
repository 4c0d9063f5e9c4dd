"""Group commit for checkouts: concurrent orders of a product share one transaction.

In a flash sale every checkout updates the same product row, so checkouts run one after
another on its lock, and each also pays a dozen statements of Python and driver work. Here the
checkouts that arrive while a transaction for their product is running wait for it to finish
and then go together in the next one: their `orders` rows, one conditional UPDATE per product
for the summed quantity, then one statement each for all their lines, idempotency records and
outbox events, one commit. A lone checkout goes at once, in a group of one.

All or nothing per group, and the per-order path is the reference: if the group cannot commit
as a whole (not enough stock for all of it, a duplicate `Idempotency-Key`, a deadlock, any
error), it is rolled back and each of its orders is checked out on its own
(`CheckoutTransaction.one`), getting exactly the answer it would have got alone. Orders that
break a rule (`validate`) are answered at once and left out of the group.

One retry policy: a group is attempted once, and lock conflicts (deadlock victim, lock-wait
timeout) are retried only per order, by `one` (`LOCK_CONFLICT_ATTEMPTS`). So an order costs at
most one group attempt and `LOCK_CONFLICT_ATTEMPTS` attempts of its own before it is 503.

Groups are keyed by an order's smallest product id, so orders of unrelated products do not wait
for each other; an order of several products joins the group of its smallest. Groups lock
product rows in primary-key order like single checkouts, which rules out most deadlocks
between them, not all (`transaction.LOCK_CONFLICT_ATTEMPTS` says which remain).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog

from commerce.metrics import CHECKOUT_GROUP_FALLBACKS, CHECKOUT_GROUP_SIZE
from commerce.orders.checkout.transaction import (
    CheckoutRequest,
    CheckoutTransaction,
    DuplicateKey,
    Outcome,
)
from commerce.orders.errors import OrderInputError, OutOfStock
from commerce.outage import lock_conflict

log = structlog.get_logger(__name__)

MAX_GROUP = 50


@dataclass
class _Queue:
    waiting: list[tuple[CheckoutRequest, asyncio.Future[Outcome]]] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None


class GroupCommit:
    """One per process (`checkout`): queues by group key, one worker task per busy group."""

    def __init__(self, transaction: CheckoutTransaction, *, max_group: int = MAX_GROUP) -> None:
        self.transaction = transaction
        self.max_group = max_group
        self._queues: dict[int, _Queue] = {}

    async def checkout(self, req: CheckoutRequest) -> Outcome:
        """The outcome of `req`'s checkout, as `CheckoutTransaction.one` would give it."""
        group = min(req.lines)
        queue = self._queues.setdefault(group, _Queue())
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        queue.waiting.append((req, future))
        if queue.worker is None:
            queue.worker = asyncio.create_task(self._work(group, queue), name=f"checkout-{group}")
        return await future

    async def _work(self, group: int, queue: _Queue) -> None:
        try:
            while queue.waiting:
                batch = queue.waiting[: self.max_group]
                del queue.waiting[: self.max_group]
                await self._run(batch)
        finally:
            queue.worker = None
            if not queue.waiting:
                self._queues.pop(group, None)

    async def _run(self, batch: list[tuple[CheckoutRequest, asyncio.Future[Outcome]]]) -> None:
        CHECKOUT_GROUP_SIZE.observe(len(batch))
        if len(batch) == 1:
            [(req, future)] = batch
            await self._settle(future, self.transaction.one(req))
            return
        try:
            outcomes = await self.transaction.group([req for req, _ in batch])
        except (DuplicateKey, OutOfStock, OrderInputError):
            outcomes, reason = None, "rejected"  # expected: it cannot commit as a whole
        except Exception as exc:
            if lock_conflict(exc):  # a deadlock victim: its orders retry alone, in `one`
                log.info("group_checkout_lock_conflict", size=len(batch))
                outcomes, reason = None, "lock_conflict"
            else:
                log.warning("group_checkout_failed", size=len(batch), exc_info=True)
                outcomes, reason = None, "error"
        if outcomes is None:
            CHECKOUT_GROUP_FALLBACKS.labels(reason).inc()
            for req, future in batch:  # the reference path, one by one
                await self._settle(future, self.transaction.one(req))
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    async def _settle(
        self, future: asyncio.Future[Outcome], work: Coroutine[Any, Any, Outcome]
    ) -> None:
        """Run one checkout and hand its result or exception to the waiting request."""
        try:
            result = await work
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)

