"""Commerce's own consumer group on the domain-event stream (not the gateway's).

Several processes may share the group (each event is handled by one of them). An event is
acknowledged only after its handler returned; one that raised stays pending and is claimed
again (`XAUTOCLAIM`) after `claim_idle_ms`, by this or another process. Handlers are idempotent
(unique keys), so a redelivery is harmless.

A read's events go to the handler in batches (`BatchHandler`): the first event of each lane
(buyer or stream), then the second of each, and so on, so one batch holds at most one event of
a lane and a lane's events are handled in stream order. In a flash sale a read of 100
`order.placed` about 100 buyers is one batch: one handler call, a few statements, instead of
100 calls of several transactions each. A batch that raises is handled again event by event,
so one bad event holds back only its own lane.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections import defaultdict
from collections.abc import Awaitable, Callable

import structlog

from commerce.outage import log_failure
from shared import events as ev
from shared.bus import Delivery, EventBus

log = structlog.get_logger(__name__)

Handler = Callable[[ev.DomainEvent], Awaitable[None]]
BatchHandler = Callable[[list[ev.DomainEvent]], Awaitable[None]]


def _lane(event: ev.DomainEvent) -> str:
    """Events about the same buyer (or stream) are handled in order; others side by side."""
    data = event.data
    buyer = getattr(data, "buyer_id", None)
    if buyer is not None:
        return f"user:{buyer}"
    return f"stream:{event.stream_id}" if event.stream_id is not None else "other"


class EventConsumer:
    def __init__(
        self, bus: EventBus, *, group: str, handler: Handler,
        batch_handler: BatchHandler | None = None, claim_idle_ms: int = 30_000,
        block_ms: int = 1000, count: int = 100, concurrency: int = 8,
    ) -> None:
        self.bus = bus
        self.group = group
        self.handler = handler
        self.batch_handler = batch_handler
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.count = count
        self.concurrency = concurrency
        self.name = f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self._stopping = asyncio.Event()

    async def _handle(self, deliveries: list[Delivery]) -> None:
        """Handle a read's events in batches of at most one event per lane (see the module
        docstring), then acknowledge those handled."""
        done: list[str] = []
        lanes: dict[str, list[Delivery]] = defaultdict(list)
        for d in deliveries:
            if d.event is None:
                log.warning("event_undecodable_skipped", message_id=d.message_id)
                done.append(d.message_id)
            else:
                lanes[_lane(d.event)].append(d)
        stopped: set[str] = set()  # lanes with a failed event: the rest of them waits
        depth = max((len(items) for items in lanes.values()), default=0)
        for i in range(depth):
            wave = [(lane, items[i]) for lane, items in lanes.items()
                    if i < len(items) and lane not in stopped]
            if not wave:
                break  # every lane left has stopped
            if self.batch_handler is not None:
                try:
                    await self.batch_handler([d.event for _, d in wave if d.event is not None])
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("event_batch_failed_one_by_one", events=len(wave),
                                exc_info=True)
                else:
                    done.extend(d.message_id for _, d in wave)
                    continue
            await self._one_by_one(wave, done, stopped)
        await self.bus.ack(self.group, done)

    async def _one_by_one(
        self, wave: list[tuple[str, Delivery]], done: list[str], stopped: set[str]
    ) -> None:
        """Each event of a wave on its own (different lanes: side by side, `concurrency` at a
        time); a failure stops its lane."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(lane: str, d: Delivery) -> None:
            assert d.event is not None
            async with gate:
                try:
                    await self.handler(d.event)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("event_handler_failed", event_type=d.event.type,
                                  event_id=d.event.id)
                    stopped.add(lane)  # it and the rest of its lane stay pending
                    return
            done.append(d.message_id)

        await asyncio.gather(*(one(lane, d) for lane, d in wave))

    async def run_once(self) -> int:
        stale = await self.bus.claim_stale(
            self.group, self.name, min_idle_ms=self.claim_idle_ms, count=self.count
        )
        fresh = await self.bus.read(self.group, self.name, count=self.count,
                                    block_ms=1 if stale else self.block_ms)
        await self._handle(stale + fresh)
        return len(stale) + len(fresh)

    async def run(self) -> None:
        """Until `stop()`; a failing bus (Redis down) is retried every second, not fatal."""
        log.info("event_consumer_started", group=self.group, consumer=self.name)
        ready = False
        while not self._stopping.is_set():
            try:
                if not ready:
                    await self.bus.ensure_group(self.group)
                    ready = True
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log_failure(log, "event_consumer_failed", exc, group=self.group)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 1.0)

    def stop(self) -> None:
        self._stopping.set()
