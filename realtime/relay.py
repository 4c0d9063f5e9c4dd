"""Relay of commerce's domain events into stream rooms.

Consumes the event stream through the `gateway` consumer group: each event goes to exactly one
gateway node, which emits it (socket.io's Redis manager fans it out to every node's clients) and
then acknowledges it. Entries another node read but never acknowledged (it died) are claimed after
`relay_claim_idle_ms`. An event is acknowledged only after its emit, so a crash redelivers rather
than loses; the room `seq` lets clients drop nothing and `resume` fill gaps.

Order: if every node consumed at once, two events about one product or stream (stock 4, then
sold out; live, then ended) could be emitted by two nodes in the wrong order, and the stored pin
snapshot could end on the older stock. So only the holder of a short Redis lease (`RelayLease`)
consumes; the others stand by and take over when it stops renewing. Emits then follow the
stream's order, and one node relays thousands of events per second, far above commerce's rate.
A new leader claims its predecessor's unacknowledged entries at once.

Entries can also sit unseen in a *live* consumer's own pending list: a read whose reply was lost
(the master serving the stream killed after it had handed the entries over and replicated that,
before the reply left; a connection closed under the read). The stream's new master (its
promoted replica) then shows them pending for this node, which never saw them, and idle-time
claiming would hand them out only `relay_claim_idle_ms` later (10-15 s; the failover test saw
it). So after any failed step, and at start, the relay first reads its own pending list again
(`XREADGROUP` from id 0) and handles what is there, then reads new entries. A second delivery
of an entry it had already emitted (its ack lost instead) is dropped by the room's `once` key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
import socketio
import structlog

from realtime.audience import RoomAudience
from realtime.control import Control
from realtime.metrics import EVENTS_OUT, RELAY_LAG, RELAY_PENDING, RELAY_PENDING_AGE, RELAYED
from realtime.pins import Pins
from realtime.rooms import stream_room, user_room
from realtime.sequence import RoomEvents
from realtime.streams import StreamCache
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
        lease: RelayLease | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self.bus = bus
        self.on_failure = on_failure
        self.lease = lease
        self.handler = handler
        self.group = group
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self._stopping = asyncio.Event()
        self._last_claim = 0.0
        # Read this consumer's own pending entries before new ones: at start, and after a step
        # failed (see the module doc).
        self._recovering = True

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
                self._failed()
                continue
            RELAYED.labels(d.event.type).inc()
            RELAY_LAG.observe(max(0.0, time.time() - d.event.occurred_at.timestamp()))
            done.append(d.message_id)
        await self.bus.ack(self.group, done)

    async def recover_own(self) -> int:
        """Handle the entries this consumer was handed and never acknowledged, oldest first
        (see the module doc). Entries whose handler fails stay pending and are skipped here
        (the next page starts after them): idle-time claiming retries those."""
        after, total = "0", 0
        while True:
            own = await self.bus.read_own_pending(self.group, self.consumer, after=after)
            if not own:
                return total
            log.info("relay_recovered_own_pending", count=len(own))
            await self.handle(own)
            total += len(own)
            after = own[-1].message_id

    async def step(self) -> int:
        if self._recovering:
            await self.recover_own()
            self._recovering = False
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
            RELAY_PENDING_AGE.set(await self.bus.pending_oldest_age_s(self.group))
        fresh = await self.bus.read(self.group, self.consumer, block_ms=self.block_ms)
        await self.handle(fresh)
        return len(fresh)

    async def run(self) -> None:
        await self.bus.ensure_group(self.group)
        log.info("relay_started", group=self.group, consumer=self.consumer)
        leading = self.lease is None
        while not self._stopping.is_set():
            try:
                if self.lease is not None:
                    held = await self.lease.hold()
                    if not held:
                        leading = False
                        await asyncio.sleep(self.lease.retry_s)
                        continue
                    if not leading:
                        leading = True
                        log.info("relay_leading", consumer=self.consumer)
                        await self.take_over()
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("relay_step_failed")
                self._recovering = True
                self._failed()
                await asyncio.sleep(1.0)

    def _failed(self) -> None:
        if self.on_failure is not None:
            self.on_failure()

    async def take_over(self) -> None:
        """Claim what a previous leader read and never acknowledged (it stopped or died)."""
        for _ in range(1000):  # bounded: entries whose handler keeps failing stay pending
            claimed = await self.bus.claim_stale(self.group, self.consumer, min_idle_ms=0)
            if claimed:
                await self.handle(claimed)
            if len(claimed) < 100:
                break

    def stop(self) -> None:
        self._stopping.set()


# KEYS: lease. ARGV: node, px. 1 when this node holds the lease (taken or renewed).
_HOLD = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RelayLease:
    """Which node consumes: a Redis key with a short expiry, renewed on every relay step."""

    def __init__(self, redis: aioredis.Redis, key: str, node: str, *, ttl_ms: int = 5000):
        self.key = key
        self.node = node
        self.ttl_ms = ttl_ms
        self.retry_s = ttl_ms / 5000
        self._hold = redis.register_script(_HOLD)
        self._release = redis.register_script(_RELEASE)

    async def hold(self) -> bool:
        return bool(await self._hold(keys=[self.key], args=[self.node, self.ttl_ms]))

    async def release(self) -> None:
        await self._release(keys=[self.key], args=[self.node])


RoomEvent = tuple[int, str, dict[str, object]]


async def room_events_for(
    event: ev.DomainEvent, *, pins: Pins, control: Control
) -> list[RoomEvent]:
    """How a domain event becomes room events: (stream_id, event name, payload) triples.

    Stock events go to every room where the product is pinned (the pins index; the stored pin
    snapshots are updated on the way) plus the stream the order came from, each room once.
    `user.tokens_revoked` becomes a control command instead: every node drops that user's
    sockets (only those of the revoked token when the event names a `jti`).
    """
    sid = event.stream_id
    match event:
        case ev.OrderPlaced(data=data) if sid is not None:
            return [
                (sid, "order_placed", {"product_id": line.product_id, "quantity": line.quantity,
                                       "buyer": data.buyer_masked, "order_id": data.order_id})
                for line in data.items
            ]
        case ev.StockChanged(data=data):
            rooms = await pins.stock_changed(data.product_id, data.stock)
            payload: dict[str, object] = {"product_id": data.product_id, "stock": data.stock}
            return [(room, "stock", payload) for room in _with(rooms, sid)]
        case ev.ProductSoldOut(data=data):
            rooms = await pins.stock_changed(data.product_id, 0)
            return [(room, "sold_out", {"product_id": data.product_id})
                    for room in _with(rooms, sid)]
        case ev.StreamStatusChanged(data=data) if sid is not None:
            return [(sid, "stream_status", {"status": data.status})]
        case ev.UserTokensRevoked(data=data):
            await control.revoke(user_id=data.user_id, jti=data.jti, family=data.family)
            return []
        case ev.OrderPaid(data=data) if sid is not None:
            # Social proof for the room; no buyer id in a public room.
            return [(sid, "order_paid", {"order_id": data.order_id})]
        case _:
            return []


def _with(rooms: list[int], stream_id: int | None) -> list[int]:
    return rooms if stream_id is None or stream_id in rooms else [*rooms, stream_id]


ORDER_STATUS_EVENTS = (
    ev.OrderPaid, ev.OrderCancelled, ev.OrderExpired, ev.OrderShipped, ev.OrderCompleted,
    ev.OrderRefunded,
)


# After the relay met a failure, for this long each room emit first waits until every node
# holding members of the room is subscribed to its channel (realtime/audience.py); and an emit
# whose publish failed, or reached nobody while nodes hold members, is published again once
# they are (within the same bound). A failover is over in 3-6 s here.
SETTLE_S = 10.0


class RelayHandler:
    """The relay's handler: route one domain event and emit its room events (with seq).

    A room event is stamped (seq, resume log, the relay's `once` key) and then published. Two
    ways a failover lost relayed events on their way to other nodes' viewers, and how they are
    closed (with `audience`, i.e. the sharded manager; docs/operations.md, Redis Cluster):
    the room's channel had moved to the promoted replica and the nodes had not subscribed there
    yet (after a failure, `settle()`, each emit waits for them first), and the publish of an
    event already stamped failed with its server (it is published again; a second delivery of
    the stream entry would find the `once` key and send nothing).
    """

    def __init__(
        self,
        *,
        sio: socketio.AsyncServer,
        streams: StreamCache,
        room_events: RoomEvents,
        pins: Pins,
        control: Control,
        audience: RoomAudience | None = None,
    ) -> None:
        self.sio = sio
        self.streams = streams
        self.room_events = room_events
        self.pins = pins
        self.control = control
        self.audience = audience
        self._settle_until = 0.0

    def settle(self) -> None:
        """The relay met a failure: for `SETTLE_S`, wait for each room's audience (class doc)."""
        self._settle_until = time.monotonic() + SETTLE_S

    async def __call__(self, event: ev.DomainEvent) -> None:
        if isinstance(event, ev.StreamStatusChanged) and event.stream_id is not None:
            self.streams.forget(event.stream_id)
        emitted: dict[int, int] = {}
        routed = await room_events_for(event, pins=self.pins, control=self.control)
        for stream_id, name, payload in routed:
            # Each room event of this domain event has a key of its own (an order of two
            # lines is two `order_placed` in one room), so a second delivery adds none.
            n = emitted[stream_id] = emitted.get(stream_id, -1) + 1
            if self.audience is None:
                await self.room_events.emit(stream_id, name, payload, once=f"{event.id}:{n}")
                continue
            if time.monotonic() < self._settle_until:
                await self.audience.wait(stream_id, self._settle_until)
            body = await self.room_events.stamp(stream_id, name, payload,
                                                once=f"{event.id}:{n}")
            if body is not None:
                await self._publish(self.audience, stream_id, name, body)
        if isinstance(event, ORDER_STATUS_EVENTS):
            # The buyer's own sockets (any room, any node) learn their order's new status.
            await self.sio.emit(
                "order_status",
                {"order_id": event.data.order_id, "status": event.data.status,
                 "stream_id": event.stream_id},
                room=user_room(event.data.buyer_id),
            )

    async def _publish(
        self, audience: RoomAudience, stream_id: int, name: str, body: dict[str, object]
    ) -> None:
        """Publish a stamped room event; again, once the room's audience is back, if the publish
        failed or nobody heard it while nodes hold members (bounded by `SETTLE_S`)."""
        room = stream_room(stream_id)
        until = time.monotonic() + SETTLE_S
        local = True  # this node's sockets have it after the first try
        while True:
            heard_by = await audience.manager.emit_to_room(name, body, room=room, local=local)
            local = False
            if heard_by:
                break
            try:
                if heard_by == 0 and not await audience.holders(stream_id):
                    break  # nobody watching: nothing lost
            except Exception:  # noqa: S110 (the room's server unreachable too: wait below)
                pass
            if time.monotonic() >= until:
                log.warning("relay_emit_unheard", stream_id=stream_id, room_event=name,
                            seq=body.get("seq"))
                break
            log.info("relay_emit_again", stream_id=stream_id, room_event=name, seq=body.get("seq"),
                     heard_by=heard_by)
            self.settle()
            await audience.wait(stream_id, until)
        EVENTS_OUT.labels(name).inc()
