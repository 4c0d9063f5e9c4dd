"""A gateway node's sharded pub/sub subscriptions: one connection per Redis server, each on its own.

`ShardedRedisManager` subscribes to a room's channel on the shard owning the channel's slot.
redis-py 8.1's `ClusterPubSub` does that too, but a Redis Cluster failover turned one shard's
trouble into every shard's:

- its per-shard connections come from the publishing client's node pools, and
  `RedisCluster.aclose()` disconnects all of them whenever any command meets `CLUSTERDOWN`, which
  every node answers while a failover is under way: all rooms went deaf, not only the dead
  shard's;
- a dead shard's error surfaces from its one round-robin read as the failure of the whole
  subscriber, which the manager could only answer by subscribing everything again, and that
  failed (the dead shard's channels among them) until the replica had taken over;
- a shard's connection is visible to the reader before it is connected ("pubsub connection not
  set"), read as one more failure of everything on a node's first join in a new shard.

Here each server has its own connection (its own pool, not the publisher's), a blocking reader
task of its own, and a failure drops that server's channels only: they are handed back
(`on_lost`) and subscribed again on their slot's owner once a fresh slot map names it (the
promoted replica, after a failover). The other shards' rooms keep receiving throughout. On a
single Redis all channels share one connection to it, with the same recovery.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from shared.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

Message = dict[str, Any]
# After a shard failed, the slot map is read again before the next subscription, at most this
# often (a master that is dead but not yet replaced keeps failing for a few seconds).
REFRESH_EVERY_S = 0.5
SINGLE = "redis"


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Shard:
    """The subscribing connection to one Redis server and the channels subscribed on it."""

    def __init__(self, name: str, client: aioredis.Redis, *, owns_client: bool) -> None:
        self.name = name
        self.client = client
        self.owns_client = owns_client
        self.pubsub = client.pubsub()
        self.channels: set[str] = set()
        self.reader: asyncio.Task[None] | None = None
        self.closed = False

    async def close(self) -> None:
        self.closed = True
        if self.reader is not None and self.reader is not asyncio.current_task():
            await cancel_and_wait(self.reader)
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py's stub
        if self.owns_client:
            with contextlib.suppress(Exception):
                await self.client.aclose()


class ShardSubscriptions:
    """Channels subscribed with `SSUBSCRIBE`, each on the server owning its slot (see module doc).

    `subscribe` returns the channels it could not subscribe (their server unreachable); a server
    failing later hands its channels to `on_lost`. Either way the caller subscribes them again
    (after a short wait: the replica needs a few seconds to take over a dead master's slots).
    Messages of every server, subscription confirmations included, come out of `get`."""

    def __init__(
        self, redis: aioredis.Redis | RedisCluster, *, on_lost: Callable[[set[str]], None]
    ) -> None:
        self.redis = redis
        self.on_lost = on_lost
        self._shards: dict[str, _Shard] = {}
        self._where: dict[str, str] = {}  # channel -> name of the shard it is subscribed on
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._stale = False
        self._refreshed_at = -REFRESH_EVERY_S

    @property
    def channels(self) -> set[str]:
        return set(self._where)

    def shard_of(self, channel: str) -> str | None:
        """The server (`host:port`, or "redis" on one Redis) `channel` is subscribed on."""
        return self._where.get(channel)

    async def get(self) -> Message:
        return await self._inbox.get()

    async def subscribe(self, channels: Iterable[str]) -> set[str]:
        """Subscribe each channel on its slot's owner; returns those not subscribed."""
        wanted = [c for c in channels if c not in self._where]
        if not wanted:
            return set()
        failed: set[str] = set()
        groups: dict[str, list[str]] = {}
        try:
            await self._refresh_if_stale()
            for channel in wanted:
                groups.setdefault(self._owner(channel), []).append(channel)
        except Exception:  # no slot map yet, or a slot not covered while a failover is under way
            log.warning("pubsub_slot_lookup_failed", exc_info=True)
            self._stale = True
            return set(wanted)
        for name, group in groups.items():
            shard = self._shards.get(name)
            try:
                if shard is None:
                    shard = self._open(name)
                for channel in group:  # one per command: SSUBSCRIBE refuses several slots
                    await shard.pubsub.ssubscribe(channel)
                    if shard.closed:  # its reader failed meanwhile
                        raise ConnectionError(f"{name} failed while subscribing")
                    shard.channels.add(channel)
                    self._where[channel] = name
            except Exception:
                log.warning("pubsub_shard_subscribe_failed", shard=name, exc_info=True)
                self._stale = True
                failed.update(group)
                if shard is not None:
                    failed.update(await self._drop(shard))
                continue
            if shard.reader is None:  # connected now: its reader can wait on it
                shard.reader = asyncio.create_task(self._read(shard))
        failed.difference_update(self._where)
        return failed

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        """`SUNSUBSCRIBE` on the server each channel was subscribed on; a server left with no
        channel is disconnected. A failed command is left to that server's reader to notice."""
        for channel in channels:
            name = self._where.pop(channel, None)
            shard = self._shards.get(name) if name is not None else None
            if shard is None:
                continue
            shard.channels.discard(channel)
            if not shard.channels:
                await self._drop(shard)
                continue
            with contextlib.suppress(Exception):
                await shard.pubsub.sunsubscribe(channel)

    async def close(self) -> None:
        for shard in list(self._shards.values()):
            await self._drop(shard)

    # --- internals ---------------------------------------------------------------------------

    def _owner(self, channel: str) -> str:
        if isinstance(self.redis, RedisCluster):
            node = self.redis.get_node_from_key(channel)
            if node is None:
                raise ConnectionError(f"no server owns {channel!r}'s slot")
            return str(node.name)
        return SINGLE

    def _open(self, name: str) -> _Shard:
        if not isinstance(self.redis, RedisCluster):
            shard = _Shard(name, self.redis, owns_client=False)  # a connection of its pool
        else:
            node = self.redis.get_node(node_name=name)
            if node is None:
                raise ConnectionError(f"{name} is not in the slot map")
            # The node's own arguments (auth, TLS, timeouts), but a pool of its own: the
            # publishing client's pools are disconnected by its `aclose()` on CLUSTERDOWN. No
            # retries inside: a failure is handled here, by subscribing on the slot's new owner.
            kwargs = {**node.connection_kwargs, "retry": Retry(NoBackoff(), 0)}
            pool = aioredis.ConnectionPool(connection_class=node.connection_class, **kwargs)
            shard = _Shard(name, aioredis.Redis(connection_pool=pool), owns_client=True)
        self._shards[name] = shard
        return shard

    async def _drop(self, shard: _Shard) -> set[str]:
        """Close a server's connection; returns the channels that were subscribed on it."""
        if shard.closed:
            return set()
        if self._shards.get(shard.name) is shard:
            del self._shards[shard.name]
        lost = set(shard.channels)
        for channel in lost:
            if self._where.get(channel) == shard.name:
                del self._where[channel]
        shard.channels.clear()
        await shard.close()
        return lost

    async def _read(self, shard: _Shard) -> None:
        try:
            while not shard.closed:
                message = await shard.pubsub.get_message(timeout=None)
                if message is None:
                    continue
                if message.get("type") == "sunsubscribe":
                    channel = _text(message.get("channel"))
                    if channel in shard.channels:  # not asked for: the slot moved elsewhere
                        shard.channels.discard(channel)
                        self._where.pop(channel, None)
                        self._stale = True
                        self.on_lost({channel})
                    continue
                self._inbox.put_nowait(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("pubsub_shard_failed", shard=shard.name, exc_info=True)
            self._stale = True
            lost = await self._drop(shard)
            if lost:
                self.on_lost(lost)

    async def _refresh_if_stale(self) -> None:
        """Read the slot map again (a server failed since the last read), deferring the
        servers that failed; at most every `REFRESH_EVERY_S`."""
        if not isinstance(self.redis, RedisCluster):
            return
        await self.redis.initialize()  # the first map (a no-op once read)
        now = asyncio.get_running_loop().time()
        if not self._stale or now - self._refreshed_at < REFRESH_EVERY_S:
            return
        self._refreshed_at = now
        await self.redis.nodes_manager.initialize()
        self._stale = False
