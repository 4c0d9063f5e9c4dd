"""`POST /orders`, top to bottom: admit, transact, record.

1. **Admit** (`_admit`): the order is counted against its rate limits (per user and per
   address), the caller's token is not revoked, the Idempotency-Key's first answer (if any)
   wins, the order's lines are read (from the body or the cart), the buyer's purchase caps and
   the stock gate let them through. With the gate on, one Redis round trip does all of it
   (`fastpath`); a cart order looks its key up first, as its first success cleared the cart.
   Without the fast path (gate off, Redis Cluster) the rate limits are counted on their own
   and the caps only by the database.
   On a Redis Cluster the fast path's keys (the token's marks, the key's answers, the
   products' gate keys) live in different slots, which no script may span: there the rate
   limits, the revocation and the key's lookup run concurrently (`_check_apart`), then
   `StockGate.take`, and a gate rejection becomes the key's first answer as a rejection from
   the database does (`_record_rejection`).
2. **Transact** (`_transact`): the checkout transaction (`transaction`), grouped with
   concurrent orders of the same product (`group_commit`). Units taken from the gate go back
   if nothing commits.
3. **Record** (`_record_rejection`, and the cart): a rejection the checkout decided becomes
   the key's first answer (`answers`); a committed cart order clears the cart.

If Redis fails the admission's round trip, the process sells from the database alone until
Redis answers again (`_place_from_database`, `degraded`): same transaction, no gate, a local
rate limit.

Every answer to a repeated key is its first answer (`answers.FirstAnswers`): a stored success
wins over a rejection decided later, because a retry of an order that succeeded may fail today.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from limits.aio.strategies import RateLimiter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commerce.carts import service as cart_service
from commerce.inventory.errors import OutOfStock
from commerce.inventory.gate import StockGate
from commerce.metrics import ORDERS_REJECTED
from commerce.orders.checkout.answers import AnswerKey, FirstAnswers, StoredResponse
from commerce.orders.checkout.degraded import LocalOrderLimits, RedisOutage, TokenBucket
from commerce.orders.checkout.fastpath import (
    Answered,
    Capped,
    FastPath,
    Limited,
    Rejected,
    RevocationUnknown,
    Revoked,
    Taken,
)
from commerce.orders.checkout.group_commit import GroupCommit
from commerce.orders.checkout.transaction import (
    CheckoutRequest,
    CheckoutTransaction,
    DuplicateKey,
)
from commerce.orders.errors import OrderInputError, PurchaseLimit
from commerce.orders.schemas import MAX_LINES, MAX_QUANTITY, OrderCreate
from commerce.outage import DependencyDown
from commerce.throttle import OrderLimits
from shared.errors import RateLimited, Unauthorized
from shared.outage import REDIS_DOWN
from shared.settings import CommerceSettings
from shared.tokens import Principal, RevocationCheck, ensure_not_revoked, is_revoked

Lines = dict[int, int]


async def _nothing() -> None:
    """A check that does not apply, in `asyncio.gather`'s place for it."""


class Checkout:
    """Places orders. One per process: it holds the group commit's queues."""

    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        answers: FirstAnswers,
        group_commit: GroupCommit,
        fastpath: FastPath | None,
        revoked_in_db: RevocationCheck | None = None,
        gate: StockGate | None = None,
        outage: RedisOutage | None = None,
        bucket: TokenBucket | None = None,
        order_limits: OrderLimits | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.redis = redis
        # The order rate limits: counted in the fast path's round trip, or by `limiter` when
        # it does not run. None: not counted here.
        self.order_limits = order_limits
        self.limiter = limiter
        self.answers = answers
        self.group_commit = group_commit
        # Both None: the stock gate is off. Only `gate`: the checks one by one (Redis Cluster).
        self.fastpath = fastpath
        self.gate = fastpath.gate if fastpath is not None else gate
        # Asked while Redis cannot answer for the revocation marks (unreachable, or a new run
        # they are not restored into yet); None: such a request is refused with 503.
        self.revoked_in_db = revoked_in_db
        # None: no selling without Redis (503). `bucket` limits the database-only checkouts,
        # `local_limits` counts their order limits (when `order_limits` are given).
        self.outage = outage if bucket is not None else None
        self.bucket = bucket
        self.local_limits = (
            LocalOrderLimits(order_limits)
            if order_limits is not None and self.outage is not None else None
        )

    @classmethod
    def build(
        cls,
        settings: CommerceSettings,
        *,
        redis: aioredis.Redis,
        sessions: async_sessionmaker[AsyncSession],
        gate: StockGate,
        revoked_in_db: RevocationCheck | None = None,
        limiter: RateLimiter | None = None,
    ) -> Checkout:
        answers = FirstAnswers(
            redis, sessions, rejection_ttl_s=settings.orders.rejection_replay_ttl_s
        )
        transaction = CheckoutTransaction(
            sessions, answers, reservation_ttl_s=settings.orders.reservation_ttl_s,
            max_unpaid_orders=settings.orders.max_unpaid_per_buyer,
        )
        enabled = settings.orders.stock_gate_enabled
        fastpath = (
            FastPath(gate, answers, max_unpaid_orders=settings.orders.max_unpaid_per_buyer)
            if enabled and not gate.one_slot_per_product else None
        )
        rates = settings.rate_limits
        degrade = settings.orders.degraded_rate_per_s > 0
        return cls(
            redis=redis, answers=answers, group_commit=GroupCommit(transaction), fastpath=fastpath,
            revoked_in_db=revoked_in_db, gate=gate if enabled else None,
            outage=RedisOutage(redis, sessions, gate if enabled else None) if degrade else None,
            bucket=TokenBucket(settings.orders.degraded_rate_per_s, settings.orders.degraded_burst)
            if degrade else None,
            order_limits=OrderLimits(rates.orders_per_user, rates.orders_per_ip), limiter=limiter,
        )

    @property
    def without_redis(self) -> bool:
        """Selling from the database because Redis is unreachable: the Redis rate limiter is
        skipped then (this checkout's token bucket stands in for it)."""
        return self.outage is not None and self.outage.active

    async def close(self) -> None:
        if self.outage is not None:
            await self.outage.close()

    async def place_order(
        self,
        *,
        principal: Principal,
        body: OrderCreate,
        idempotency_key: str | None,
        revocation_checked: bool = True,
        client_ip: str | None = None,
    ) -> StoredResponse:
        """Create an order (201), or answer a repeated key with its first answer: the stored
        success, or the stored rejection raised again.

        `revocation_checked=False`: `principal`'s signature is verified but not its
        revocation; it is checked before anything else reads or changes state, inside the fast
        path's round trip when the gate runs, else on its own.
        `client_ip`: the order is counted against the per-user and per-address order limits
        (429 `rate_limited` past either), first; None: not counted here.
        """
        answer = AnswerKey.of(principal.user_id, idempotency_key, body.model_dump(mode="json"))
        if self.outage is not None and await self.outage.use_database():
            return await self._place_from_database(
                principal, body, answer, revocation_checked, client_ip)
        try:
            admitted = await self._admit(principal, body, answer, revocation_checked, client_ip)
        except REDIS_DOWN as exc:
            if self.outage is None:
                raise
            self.outage.begin(exc)
            return await self._place_from_database(
                principal, body, answer, revocation_checked, client_ip)
        if isinstance(admitted, StoredResponse):
            return admitted
        request = admitted
        try:
            stored, committed = await self._transact(request)
        except (OrderInputError, OutOfStock, PurchaseLimit) as exc:
            replay = await self._record_rejection(answer, exc)
            stored, committed = replay, False
        if committed and body.from_cart:
            await cart_service.clear_cart(self.redis, principal.user_id)
        return stored

    # 1. Admit ----------------------------------------------------------------------------

    async def _admit(
        self,
        principal: Principal,
        body: OrderCreate,
        answer: AnswerKey | None,
        revocation_checked: bool,
        client_ip: str | None,
    ) -> CheckoutRequest | StoredResponse:
        """The request to check out, or the key's stored success (a stored rejection and the
        gate's rejections are raised)."""
        rate = (
            self.order_limits.windows(user_id=principal.user_id, ip=client_ip)
            if self.order_limits is not None and client_ip is not None else None
        )
        count_apart = rate is not None and self.fastpath is None  # no script to count in
        if count_apart:
            rate = None
        if self.fastpath is None or body.from_cart:
            stored = await self._check_apart(
                principal, answer, check_revocation=not revocation_checked,
                count_ip=client_ip if count_apart else None,
            )
            if stored is not None:
                return stored
            revocation_checked = True
        lines = await self._lines(principal.user_id, body)
        if self.gate is None:
            return CheckoutRequest(principal, body, lines, answer)
        if self.fastpath is None:  # Redis Cluster: the stock alone, line by line
            if short := await self.gate.take(lines):
                exc = OutOfStock(product_id=short.product_id, available=short.available)
                return await self._record_rejection(answer, exc)  # the key's first answer
            return CheckoutRequest(principal, body, lines, answer)
        result = await self.fastpath.take(
            lines, buyer_id=principal.user_id, answer=answer,
            unrevoked=None if revocation_checked else principal, rate=rate,
        )
        if isinstance(result, Limited):
            raise RateLimited("too many orders requests; try again later",
                              retry_after=result.retry_after)
        if isinstance(result, RevocationUnknown):  # Redis's marks are not restored: the slow rule
            await ensure_not_revoked(self.redis, principal, fallback=self.revoked_in_db)
            # Counted already: the second pass does not count the order again.
            result = await self.fastpath.take(lines, buyer_id=principal.user_id, answer=answer)
        if isinstance(result, Revoked):
            raise Unauthorized("token revoked")
        if isinstance(result, Answered | Rejected | Capped):
            # A flash sale's cheap path: one Redis round trip, which also stored a rejection as
            # the key's first answer unless the success marker exists. If it does, a stored
            # success wins (an earlier request, or a concurrent retry that committed).
            if answer is not None and result.marked and (stored := await self.answers.find(answer)):
                return stored
            if isinstance(result, Answered):
                raise self.answers.replay(result.stored, answer or "")
            if isinstance(result, Capped):
                raise result.error
            raise OutOfStock(product_id=result.product_id, available=result.available)
        assert isinstance(result, Taken), result  # the second pass neither counts nor checks
        return CheckoutRequest(principal, body, lines, answer, marked=answer is not None,
                               hold=result.hold)

    async def _check_apart(
        self,
        principal: Principal,
        answer: AnswerKey | None,
        *,
        check_revocation: bool,
        count_ip: str | None,
    ) -> StoredResponse | None:
        """The fast path's checks without its script (on a Redis Cluster, where their keys
        live in different slots; for a cart order, whose key is looked up before its cart is
        read): count the order against its limits (with `count_ip`), check the token's
        revocation, look up the key's first answer (a stored success is returned).

        They do not depend on each other (reads, and a count every attempt pays anyway), so
        they run concurrently: one Redis round trip of latency instead of three, each of which
        is one or more on a cluster. The outcome is decided in the script's order: 429 first,
        then 401, then the stored answer, so a revoked token never gets one replayed."""
        limits, limiter = self.order_limits, self.limiter
        counted = (
            limits.enforce(limiter, user_id=principal.user_id, ip=count_ip)
            if count_ip is not None and limits is not None and limiter is not None
            else _nothing()
        )
        revoked = (
            is_revoked(self.redis, principal, fallback=self.revoked_in_db)
            if check_revocation else _nothing()
        )
        stored = self.answers.lookup(answer) if answer is not None else _nothing()
        rate, revocation, lookup = await asyncio.gather(
            counted, revoked, stored, return_exceptions=True
        )
        for outcome in (rate, revocation):
            if isinstance(outcome, BaseException):
                raise outcome
        if revocation:
            raise Unauthorized("token revoked")
        if isinstance(lookup, BaseException):
            raise lookup
        return lookup

    async def _lines(self, user_id: int, body: OrderCreate) -> Lines:
        if body.items is not None:
            return {line.product_id: line.quantity for line in body.items}
        lines = await cart_service.read_cart(self.redis, user_id)
        if not lines:
            raise OrderInputError("the cart is empty", code="cart_empty")
        if len(lines) > MAX_LINES or any(not 1 <= q <= MAX_QUANTITY for q in lines.values()):
            raise OrderInputError(
                f"a cart order takes 1-{MAX_LINES} lines of 1-{MAX_QUANTITY} units",
                code="invalid_cart",
            )
        return lines

    # 2. Transact -------------------------------------------------------------------------

    async def _transact(
        self, request: CheckoutRequest, *, gated: bool = True
    ) -> tuple[StoredResponse, bool]:
        """The order's response and whether it committed now (False: the key's stored success,
        committed by an earlier or concurrent request). `gated`: its units came from the
        gate (and go back unless it commits)."""
        committed = False
        refused: PurchaseLimit | None = None
        try:
            stored, _ = await self.group_commit.checkout(request)
            committed = True
        except DuplicateKey:
            replay = await self.answers.find(request.answer) if request.answer else None
            if replay is None:  # the record was purged between the two reads (after 24 hours)
                raise
            stored = replay
        except PurchaseLimit as exc:
            refused = exc  # the database's count: the gate's counter is left no lower
            raise
        finally:
            if gated and not committed:
                if request.hold is not None and self.fastpath is not None:
                    await self.fastpath.give_back(request.lines, request.hold, refused=refused)
                elif self.gate is not None:
                    await self.gate.give_back(request.lines)
        return stored, committed

    # 3. Record ---------------------------------------------------------------------------

    async def _record_rejection(
        self, answer: AnswerKey | None, exc: OrderInputError | OutOfStock | PurchaseLimit
    ) -> StoredResponse:
        """A retry of an order that succeeded may fail today (product deleted, stream ended,
        sold out): the stored success wins, as it would have with a SELECT first. Otherwise
        the rejection becomes the key's first answer and is raised."""
        if answer is not None and (replay := await self.answers.lookup(answer)):
            return replay
        ORDERS_REJECTED.labels(str(exc.code)).inc()
        if answer is not None:
            await self.answers.remember_rejection(answer, exc)
        raise exc

    # Without Redis ------------------------------------------------------------------------

    async def _place_from_database(
        self,
        principal: Principal,
        body: OrderCreate,
        answer: AnswerKey | None,
        revocation_checked: bool,
        client_ip: str | None,
    ) -> StoredResponse:
        """`place_order` while Redis is unreachable: the same checkout transaction with the
        database as the only judge (`degraded`). The key's first answer is its stored success
        if any (a row; the marker is set when Redis is back); rejections are not stored. The
        order limits are counted in this process's memory (`LocalOrderLimits`), first, as the
        fast path counts them first.

        Counted as in flight from its first line (before any await), so the outage's recovery
        cannot look for records to mark before this one's is written."""
        assert self.outage is not None and self.bucket is not None
        if body.from_cart or body.items is None:  # the cart lives in Redis
            raise DependencyDown("redis")
        lines = {line.product_id: line.quantity for line in body.items}
        with self.outage.selling(lines):
            if self.local_limits is not None and client_ip is not None:
                await self.local_limits.enforce(user_id=principal.user_id, ip=client_ip)
            if not self.bucket.take():  # the gate's stand-in: keep the flood off the hot row
                raise DependencyDown("redis")
            if not revocation_checked:
                if self.revoked_in_db is None:
                    raise DependencyDown("redis")
                if await self.revoked_in_db(principal):
                    raise Unauthorized("token revoked")
            if answer is not None and (stored := await self.answers.find(answer)):
                return stored
            # marked: its marker is owed, set by the outage's recovery (Redis is down now).
            request = CheckoutRequest(principal, body, lines, answer, marked=answer is not None)
            try:
                stored, _ = await self._transact(request, gated=False)
            except (OrderInputError, OutOfStock, PurchaseLimit) as exc:
                if answer is not None and (replay := await self.answers.find(answer)):
                    return replay
                ORDERS_REJECTED.labels(str(exc.code)).inc()
                raise
            return stored
