"""Relay of commerce's domain events into stream rooms.

Consumes the event stream through the `gateway` consumer group: each event goes to exactly one
gateway node, which emits it (socket.io's Redis manager fans it out to every node's clients) and
then acknowledges it. Entries another node read but never acknowledged (it died) are claimed after
`relay_claim_idle_ms`. An event is acknowledged only after its emit, so a crash redelivers rather
than loses; the room `seq` lets clients drop nothing and `resume` fill gaps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from realtime.metrics import RELAY_LAG, RELAY_PENDING, RELAYED
from shared import events as ev
from shared.bus import Delivery, EventBus

log = structlog.get_logger(__name__)

Handler = Callable[[ev.DomainEvent], Awaitable[None]]


class Relay:
    def __init__(
        self,
        bus: EventBus,
        handler: Handler,
        *,
        group: str,
        consumer: str,
        claim_idle_ms: int = 10_000,
        block_ms: int = 500,
    ) -> None:
        self.bus = bus
        self.handler = handler
        self.group = group
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self._stopping = asyncio.Event()
        self._last_claim = 0.0

    async def handle(self, deliveries: list[Delivery]) -> None:
        done: list[str] = []
        for d in deliveries:
            if d.event is None:
                log.warning("relay_undecodable_event", message_id=d.message_id)
                done.append(d.message_id)
                continue
            try:
                await self.handler(d.event)
            except Exception:
                # Left pending: claimed and retried later (by this node or another).
                log.exception("relay_handler_failed", type=d.event.type, id=d.event.id)
                continue
            RELAYED.labels(d.event.type).inc()
            RELAY_LAG.observe(max(0.0, time.time() - d.event.occurred_at.timestamp()))
            done.append(d.message_id)
        await self.bus.ack(self.group, done)

    async def step(self) -> int:
        now = time.monotonic()
        if now - self._last_claim >= self.claim_idle_ms / 2000:
            self._last_claim = now
            claimed = await self.bus.claim_stale(
                self.group, self.consumer, min_idle_ms=self.claim_idle_ms
            )
            if claimed:
                log.info("relay_claimed", count=len(claimed))
                await self.handle(claimed)
            RELAY_PENDING.set(await self.bus.pending_count(self.group))
        fresh = await self.bus.read(self.group, self.consumer, block_ms=self.block_ms)
        await self.handle(fresh)
        return len(fresh)

    async def run(self) -> None:
        await self.bus.ensure_group(self.group)
        log.info("relay_started", group=self.group, consumer=self.consumer)
        while not self._stopping.is_set():
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("relay_step_failed")
                await asyncio.sleep(1.0)

    def stop(self) -> None:
        self._stopping.set()


RoomEvent = tuple[int, str, dict[str, object]]


def room_events_for(event: ev.DomainEvent) -> list[RoomEvent]:
    """How a domain event becomes room events: (stream_id, event name, payload) triples.

    Events without a stream go nowhere here; stock changes for products pinned in rooms other
    than the one the order came from are routed by the pins service (see `pins.py`).
    """
    sid = event.stream_id
    if sid is None:
        return []
    match event:
        case ev.OrderPlaced(data=data):
            return [
                (sid, "order_placed", {"product_id": line.product_id, "quantity": line.quantity,
                                       "buyer": data.buyer_masked})
                for line in data.items
            ]
        case ev.StockChanged(data=data):
            return [(sid, "stock", {"product_id": data.product_id, "stock": data.stock})]
        case ev.ProductSoldOut(data=data):
            return [(sid, "sold_out", {"product_id": data.product_id})]
        case ev.StreamStatusChanged(data=data):
            return [(sid, "stream_status", {"status": data.status})]
        case _:
            return []
