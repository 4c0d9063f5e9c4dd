"""The event bus between commerce and the gateway: one interface, two implementations.

`RedisStreamBus` is production: events go into one Redis Stream; each gateway node reads through
the consumer group (so each event is handled by exactly one node, which emits it to the room
through socket.io's Redis manager), acknowledges after the emit, and claims entries a dead node
left pending (`XAUTOCLAIM`). The group starts at the beginning of the stream, so events published
while no gateway runs are delivered when the first one starts.

`InProcessBus` is the embedded default (commerce and gateway in one process, no Redis): the same
semantics (groups, pending entries, claiming) in memory, so the same relay code runs on both.

Publishing takes a `dedup_key` (the outbox row id): a retried publish after a crash between the
publish and the outbox update is dropped, which makes outbox delivery exactly-once.

A batch publish also records the highest outbox id it carried (`high_water`), in the same
script. The outbox relay compares it with the database: a Redis that restarted from an AOF a
second old, failed over, or lost everything has a lower mark (or none) than the rows the
database says were published, and the relay publishes those again (commerce/outbox.py); the
dedup keys, lost or kept together with the entries, let through exactly the lost ones.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis
import structlog
from pydantic import ValidationError
from redis.exceptions import ResponseError

from shared import events as ev

log = structlog.get_logger(__name__)

DEDUP_TTL_S = 24 * 3600


class StreamLost(Exception):
    """The stream lacks entries it was given (its high-water mark is behind): Redis lost data.
    The outbox relay requeues them before it publishes anything newer (commerce/outbox.py)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    message_id: str
    raw: bytes
    event: ev.DomainEvent | None  # None: undecodable; the consumer acks it and logs

    @classmethod
    def parse(cls, message_id: str, raw: bytes) -> Delivery:
        try:
            event: ev.DomainEvent | None = ev.decode(raw)
        except ValidationError:
            event = None
        return cls(message_id=message_id, raw=raw, event=event)


class EventBus(Protocol):
    async def publish(self, event: ev.DomainEvent, *, dedup_key: str | None = None) -> str | None:
        """Append an event; returns its id, or None when `dedup_key` was already published."""
        ...

    async def publish_raw(self, raw: bytes, *, dedup_key: str | None = None) -> str | None: ...

    async def publish_many_raw(
        self, items: Sequence[tuple[bytes, str]], *, high_water: int | None = None,
        expect: int | None = None,
    ) -> list[str | None]:
        """`publish_raw` for several (raw, dedup_key) pairs, in order, in one round trip;
        `high_water` (the batch's highest outbox id) raises the stream's mark. Raises
        `StreamLost`, publishing nothing, when the mark is below `expect`."""
        ...

    async def high_water(self) -> int | None:
        """The highest outbox id ever published to this stream, None if the mark is gone."""
        ...

    async def ensure_group(self, group: str) -> None: ...

    async def read(
        self, group: str, consumer: str, *, count: int = 100, block_ms: int = 1000
    ) -> list[Delivery]:
        """New entries for this consumer; they stay pending until `ack`."""
        ...

    async def read_own_pending(
        self, group: str, consumer: str, *, after: str = "0", count: int = 100
    ) -> list[Delivery]:
        """Entries already delivered to this consumer and not acknowledged, oldest first,
        those after `after` (page with the last id returned). A consumer whose read failed
        (its reply lost: a connection closed, a master killed) may hold entries it never saw;
        this hands them to it again at once, instead of after `claim_stale`'s idle time."""
        ...

    async def ack(self, group: str, message_ids: list[str]) -> int: ...

    async def claim_stale(
        self, group: str, consumer: str, *, min_idle_ms: int, count: int = 100
    ) -> list[Delivery]:
        """Take over entries another consumer read but did not ack within `min_idle_ms`."""
        ...

    async def pending_count(self, group: str) -> int: ...

    async def pending_oldest_age_s(self, group: str) -> float:
        """Seconds since the oldest entry still pending in `group` was published (0: none)."""
        ...

    async def close(self) -> None: ...


# Publish once per dedup key, atomically: SET NX guards the XADD.
_PUBLISH_ONCE = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) then
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1])
end
return false
"""

# The same for a batch: KEYS stream, high-water mark, dedup keys; ARGV maxlen, ttl, high water
# (0: none), the mark the stream must already have (0: any), then one raw per dedup key.
_PUBLISH_MANY_ONCE = """
if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[4]) then
  return redis.error_reply('STREAMLOST the stream lacks entries it was given')
end
local out = {}
for i = 3, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[2]) then
    out[i - 2] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i + 2])
  else
    out[i - 2] = false
  end
end
local hw = tonumber(ARGV[3])
if hw > 0 and hw > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], hw)
end
return out
"""


class RedisStreamBus:
    def __init__(self, redis: aioredis.Redis, *, stream: str = "events", maxlen: int = 100_000):
        self.redis = redis
        self.stream = stream
        self.maxlen = maxlen
        self._publish_once = redis.register_script(_PUBLISH_ONCE)
        self._publish_many_once = redis.register_script(_PUBLISH_MANY_ONCE)
        self._claim_cursor: dict[str, str] = {}
        # Keys a script touches with the stream are tagged with its name: `{events}:...` hashes
        # as `events` does, so on a Redis Cluster they share the stream's slot while the stream
        # keeps its name (it outlives deploys). The mark's name before the tag is still read
        # (and carried over) once, or a deploy would find the mark gone and replay the window.
        self._high_water_key = f"{{{stream}}}:outbox:high_water"
        self._legacy_high_water_key = f"{stream}:outbox:high_water"

    async def publish(self, event: ev.DomainEvent, *, dedup_key: str | None = None) -> str | None:
        return await self.publish_raw(ev.encode(event), dedup_key=dedup_key)

    async def publish_raw(self, raw: bytes, *, dedup_key: str | None = None) -> str | None:
        if dedup_key is None:
            mid = await self.redis.xadd(
                self.stream, {"e": raw}, maxlen=self.maxlen, approximate=True
            )
            return _s(mid)
        key = self._dedup_key(dedup_key)
        mid = await self._publish_once(
            keys=[self.stream, key], args=[raw, self.maxlen, DEDUP_TTL_S]
        )
        return _s(mid) if mid else None

    async def publish_many_raw(
        self, items: Sequence[tuple[bytes, str]], *, high_water: int | None = None,
        expect: int | None = None,
    ) -> list[str | None]:
        if not items:
            return []
        try:
            mids = await self._publish_many_once(
                keys=[self.stream, self._high_water_key,
                      *(self._dedup_key(key) for _, key in items)],
                args=[self.maxlen, DEDUP_TTL_S, high_water or 0, expect or 0,
                      *(raw for raw, _ in items)],
            )
        except ResponseError as exc:
            if "STREAMLOST" in str(exc):
                raise StreamLost(str(exc)) from None
            raise
        return [_s(mid) if mid else None for mid in mids]

    def _dedup_key(self, dedup_key: str) -> str:
        return f"{{{self.stream}}}:dedup:{dedup_key}"

    async def high_water(self) -> int | None:
        value = await self.redis.get(self._high_water_key)
        if value is None and (legacy := await self.redis.get(self._legacy_high_water_key)):
            await self.redis.set(self._high_water_key, legacy, nx=True)
            value = await self.redis.get(self._high_water_key)
        return int(value) if value is not None else None

    async def ensure_group(self, group: str) -> None:
        try:
            await self.redis.xgroup_create(self.stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(
        self, group: str, consumer: str, *, count: int = 100, block_ms: int = 1000
    ) -> list[Delivery]:
        try:
            reply: Any = await self.redis.xreadgroup(
                group, consumer, {self.stream: ">"}, count=count, block=block_ms
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group(group)  # the stream was deleted (FLUSHDB); recreate
            return []
        out: list[Delivery] = []
        for _stream, entries in reply or []:
            out.extend(_deliveries(entries))
        return out

    async def read_own_pending(
        self, group: str, consumer: str, *, after: str = "0", count: int = 100
    ) -> list[Delivery]:
        try:
            reply: Any = await self.redis.xreadgroup(
                group, consumer, {self.stream: after}, count=count
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            return []
        entries = [e for _stream, es in reply or [] for e in es]
        # An entry trimmed away while pending comes back without fields: nothing to hand out,
        # and nothing will ever be; acknowledged so it leaves the pending list.
        gone = [_s(mid) for mid, fields in entries if not fields]
        if gone:
            await self.ack(group, gone)
        return _deliveries([e for e in entries if e[1]])

    async def ack(self, group: str, message_ids: list[str]) -> int:
        if not message_ids:
            return 0
        return int(await self.redis.xack(self.stream, group, *message_ids))

    async def claim_stale(
        self, group: str, consumer: str, *, min_idle_ms: int, count: int = 100
    ) -> list[Delivery]:
        start = self._claim_cursor.get(group, "0-0")
        try:
            claimed: Any = await self.redis.xautoclaim(
                self.stream, group, consumer, min_idle_time=min_idle_ms, start_id=start,
                count=count,
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            return []
        next_start, entries = _s(claimed[0]), list(claimed[1])
        self._claim_cursor[group] = next_start
        # Entries deleted by trimming come back as None; XAUTOCLAIM already dropped them.
        return _deliveries([e for e in entries if e and e[1] is not None])

    async def pending_count(self, group: str) -> int:
        try:
            info = await self.redis.xpending(self.stream, group)
        except ResponseError:
            return 0
        return int(info["pending"]) if isinstance(info, dict) else int(info[0])

    async def pending_oldest_age_s(self, group: str) -> float:
        try:
            info = await self.redis.xpending(self.stream, group)
        except ResponseError:
            return 0.0
        oldest = info.get("min") if isinstance(info, dict) else info[1]
        return _id_age_s(_s(oldest)) if oldest else 0.0

    async def close(self) -> None:
        await self.redis.aclose()


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _id_age_s(message_id: str) -> float:
    """Age of a stream entry from its id (`<unix ms>-<seq>`, Redis's and ours alike)."""
    return max(0.0, time.time() - int(message_id.split("-", 1)[0]) / 1000)


def _id_key(message_id: str) -> tuple[int, int]:
    ms, _, seq = message_id.partition("-")
    return int(ms), int(seq or 0)


def _deliveries(entries: list[Any]) -> list[Delivery]:
    out = []
    for mid, fields in entries:
        raw = fields.get(b"e", fields.get("e", b""))
        out.append(Delivery.parse(_s(mid), raw if isinstance(raw, bytes) else raw.encode()))
    return out


# --- in-process ------------------------------------------------------------------------------


@dataclass
class _Pending:
    consumer: str
    delivered_at: float


@dataclass
class _Group:
    next_index: int = 0  # index into the log of the next never-delivered entry
    pending: dict[str, _Pending] = field(default_factory=dict)


class InProcessBus:
    """The embedded default's bus: Redis Streams' consumer-group semantics in memory."""

    def __init__(self, *, maxlen: int = 100_000) -> None:
        self._log: deque[tuple[str, bytes]] = deque()
        self._offset = 0  # log index of self._log[0] (entries trimmed before it)
        self._by_id: dict[str, bytes] = {}
        self._groups: dict[str, _Group] = {}
        self._seq = itertools.count(1)
        self._seen: dict[str, float] = {}
        self._maxlen = maxlen
        self._changed = asyncio.Event()
        self._high_water: int | None = None

    async def publish(self, event: ev.DomainEvent, *, dedup_key: str | None = None) -> str | None:
        return await self.publish_raw(ev.encode(event), dedup_key=dedup_key)

    async def publish_raw(self, raw: bytes, *, dedup_key: str | None = None) -> str | None:
        if dedup_key is not None:
            if dedup_key in self._seen:
                return None
            self._seen[dedup_key] = time.monotonic()
        mid = f"{int(time.time() * 1000)}-{next(self._seq)}"
        self._log.append((mid, raw))
        self._by_id[mid] = raw
        while len(self._log) > self._maxlen:
            old, _ = self._log.popleft()
            self._by_id.pop(old, None)
            self._offset += 1
        self._changed.set()
        return mid

    async def publish_many_raw(
        self, items: Sequence[tuple[bytes, str]], *, high_water: int | None = None,
        expect: int | None = None,
    ) -> list[str | None]:
        if (self._high_water or 0) < (expect or 0):
            raise StreamLost("the stream lacks entries it was given")
        out = [await self.publish_raw(raw, dedup_key=key) for raw, key in items]
        if high_water is not None:
            self._high_water = max(self._high_water or 0, high_water)
        return out

    async def high_water(self) -> int | None:
        return self._high_water

    async def ensure_group(self, group: str) -> None:
        self._groups.setdefault(group, _Group(next_index=self._offset))

    async def read(
        self, group: str, consumer: str, *, count: int = 100, block_ms: int = 1000
    ) -> list[Delivery]:
        await self.ensure_group(group)
        g = self._groups[group]
        deadline = time.monotonic() + block_ms / 1000
        while g.next_index >= self._offset + len(self._log):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return []
        g.next_index = max(g.next_index, self._offset)
        start = g.next_index - self._offset
        batch = list(itertools.islice(self._log, start, start + count))
        g.next_index += len(batch)
        now = time.monotonic()
        for mid, _ in batch:
            g.pending[mid] = _Pending(consumer, now)
        return [Delivery.parse(mid, raw) for mid, raw in batch]

    async def read_own_pending(
        self, group: str, consumer: str, *, after: str = "0", count: int = 100
    ) -> list[Delivery]:
        g = self._groups.get(group)
        if g is None:
            return []
        floor = _id_key(after)
        mine = sorted((mid for mid, p in g.pending.items()
                       if p.consumer == consumer and _id_key(mid) > floor), key=_id_key)
        return self._hand_over(g, mine, consumer, count)

    async def ack(self, group: str, message_ids: list[str]) -> int:
        g = self._groups.get(group)
        if g is None:
            return 0
        return sum(1 for mid in message_ids if g.pending.pop(mid, None) is not None)

    async def claim_stale(
        self, group: str, consumer: str, *, min_idle_ms: int, count: int = 100
    ) -> list[Delivery]:
        g = self._groups.get(group)
        if g is None:
            return []
        now = time.monotonic()
        idle = [mid for mid, p in g.pending.items()
                if (now - p.delivered_at) * 1000 >= min_idle_ms]
        return self._hand_over(g, idle, consumer, count)

    def _hand_over(
        self, g: _Group, message_ids: list[str], consumer: str, count: int
    ) -> list[Delivery]:
        """Deliver up to `count` of these pending entries to `consumer` (XCLAIM's bookkeeping:
        its name and a fresh delivery time); an entry trimmed away meanwhile leaves the pending
        list instead."""
        out: list[Delivery] = []
        now = time.monotonic()
        for mid in message_ids:
            if len(out) >= count:
                break
            raw = self._by_id.get(mid)
            if raw is None:  # trimmed away
                del g.pending[mid]
                continue
            g.pending[mid] = _Pending(consumer, now)
            out.append(Delivery.parse(mid, raw))
        return out

    async def pending_count(self, group: str) -> int:
        g = self._groups.get(group)
        return len(g.pending) if g else 0

    async def pending_oldest_age_s(self, group: str) -> float:
        g = self._groups.get(group)
        if not g or not g.pending:
            return 0.0
        oldest = min(g.pending, key=_id_key)
        return _id_age_s(oldest)

    async def close(self) -> None:
        return None


def make_bus(redis_url: str | None, *, stream: str = "events", maxlen: int = 100_000) -> EventBus:
    """Redis Streams when Redis is configured, else the process-wide in-process bus."""
    if redis_url:
        from shared.redis import make_redis

        return RedisStreamBus(make_redis(redis_url), stream=stream, maxlen=maxlen)
    return embedded_bus()


_EMBEDDED: InProcessBus | None = None


def embedded_bus() -> InProcessBus:
    global _EMBEDDED
    if _EMBEDDED is None:
        _EMBEDDED = InProcessBus()
    return _EMBEDDED
