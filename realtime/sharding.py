"""Sharded room fan-out: one Redis sharded pub/sub channel per room, subscribed while needed.

python-socketio's Redis manager publishes every emit of every room on one channel, so every
gateway node receives and decodes the whole cluster's traffic whether or not it has members in
the room. This manager is python-socketio's counterpart of Node's `@socket.io/redis-adapter`
`createShardedAdapter` in its "dynamic" subscription mode:

- an emit to one room is published with `SPUBLISH` on that room's own channel
  (`<channel>#<namespace>#<room>#`, the Node adapter's naming);
- a node `SSUBSCRIBE`s to a room's channel when the room's first local member enters it (the
  `enter_room` call returns once Redis has confirmed the subscription, so a join ack never
  precedes the node's ability to hear the room) and `SUNSUBSCRIBE`s when the last one leaves;
- everything that is not one room (an emit to the whole namespace or to several rooms at once,
  a disconnect or room entry by sid of a socket on another node, an ack returning to the node
  that asked) goes on one control channel that every node subscribes to;
- an emit to a socket's own sid room on this node is delivered locally and published nowhere
  (a sid lives on one node). As in Node's dynamic mode, a sid on *another* node is reached only
  through a named room: the gateway gives every signed-in user's sockets a `user:<id>` room.

Sharded pub/sub exists on a single Redis 7 too, where the channels simply all live on one
server; on Redis Cluster each channel lives on the shard that owns its slot, so publishing and
receiving a room's traffic loads only that shard and the nodes with members.

Local delivery is `DirectFanout`'s (pre-built frame written to each idle socket). Like Node's
adapter, acks from sockets on other nodes are delivered through the control channel only to the
node that asked (python-socketio's own callback routing), and a node's local rooms are not
visible to others (no `fetchSockets`-style queries).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterPubSub, RedisCluster
from socketio.async_pubsub_manager import AsyncPubSubManager

from realtime.metrics import PUBSUB_RECEIVED, PUBSUB_SUBSCRIPTIONS
from realtime.publisher import OrderedPublisher
from realtime.transport import DirectFanout

log = structlog.get_logger(__name__)

_ROOM_RECEIVED = PUBSUB_RECEIVED.labels("room")
_CONTROL_RECEIVED = PUBSUB_RECEIVED.labels("control")
# How long `enter_room` waits for Redis to confirm a new room subscription; past it the join
# goes on (local delivery works) and the subscription is completed when Redis answers.
SUBSCRIBE_WAIT_S = 5.0
RETRY_MAX_S = 2.0
# On a Redis Cluster, how long the listener sleeps after finding every shard connection idle
# (the most an idle node adds to a room message's latency).
CLUSTER_IDLE_POLL_S = 0.005


class ShardedRedisManager(AsyncPubSubManager, DirectFanout):  # type: ignore[misc]  # untyped library base
    """Cross-node fan-out over Redis sharded pub/sub, one channel per room (see module doc)."""

    name = "shardedredis"

    def __init__(
        self, redis: Redis | RedisCluster, *, channel: str = "socketio", write_only: bool = False
    ) -> None:
        super().__init__(channel=channel, write_only=write_only)
        self.redis = redis
        self.control_channel = f"{channel}#ctl"
        self._rooms_of: dict[str, tuple[str, str]] = {}  # channel -> (namespace, room)
        self._subscribed: set[str] = set()  # sent SSUBSCRIBE on the current connection
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._pubsub: Any = None
        self._connected = asyncio.Event()
        self._refreshing = False
        self._publisher = OrderedPublisher(redis, on_failure=self._refresh_slots)

    def room_channel(self, namespace: str, room: str) -> str:
        return f"{self.channel}#{namespace}#{room}#"

    # --- which rooms this node needs -------------------------------------------------------

    def initialize(self) -> None:
        super().initialize()  # starts `_thread` (the listener) unless write-only
        if not self.write_only:
            self.server.start_background_task(self._reconcile_forever)

    def basic_enter_room(
        self, sid: str, namespace: str, room: str | None, eio_sid: str | None = None
    ) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if room is not None and room != sid:
            self._mark(namespace, room)

    def basic_leave_room(self, sid: str, namespace: str, room: str | None) -> None:
        super().basic_leave_room(sid, namespace, room)
        if room is not None and room != sid:
            self._mark(namespace, room)

    def _mark(self, namespace: str, room: str) -> None:
        channel = self.room_channel(namespace, room)
        self._rooms_of[channel] = (namespace, room)
        self._dirty.add(channel)
        self._wake.set()

    def _wanted(self, channel: str) -> bool:
        namespace, room = self._rooms_of.get(channel, ("", ""))
        return bool(self.rooms.get(namespace, {}).get(room))

    async def enter_room(
        self, sid: str, namespace: str, room: str, eio_sid: str | None = None
    ) -> None:
        await super().enter_room(sid, namespace, room, eio_sid=eio_sid)
        if self.write_only or not self.is_connected(sid, namespace):
            return
        channel = self.room_channel(namespace, room)
        future = self._confirmation(channel)
        if not future.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(future), SUBSCRIBE_WAIT_S)

    def _confirmation(self, channel: str) -> asyncio.Future[None]:
        future = self._confirmed.get(channel)
        if future is None:
            future = self._confirmed[channel] = asyncio.get_running_loop().create_future()
        return future

    async def _reconcile_forever(self) -> None:
        """Bring the subscriptions in line with the local rooms, whenever they change."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._connected.wait()
            dirty, self._dirty = self._dirty, set()
            try:
                await self._reconcile(dirty)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("pubsub_reconcile_failed", exc_info=True)
                self._dirty |= dirty  # retried after the listener reconnects
                self._connected.clear()

    async def _reconcile(self, channels: set[str]) -> None:
        # Bookkeeping first, then the commands: a room changing again meanwhile is marked
        # dirty and handled by the next round, in order on the same connection.
        add = [c for c in channels if self._wanted(c) and c not in self._subscribed]
        drop = [c for c in channels if not self._wanted(c) and c in self._subscribed]
        for c in add:
            self._confirmation(c)
        self._subscribed.update(add)
        self._subscribed.difference_update(drop)
        for c in drop:
            self._confirmed.pop(c, None)
            if c not in self._dirty:
                self._rooms_of.pop(c, None)
        PUBSUB_SUBSCRIPTIONS.set(len(self._subscribed))
        if add:
            await self._pubsub.ssubscribe(*add)
        if drop:
            await self._pubsub.sunsubscribe(*drop)

    # --- publishing ------------------------------------------------------------------------

    async def emit(self, event: str, data: Any, namespace: str | None = None,
                   room: Any = None, skip_sid: Any = None, callback: Any = None,
                   to: Any = None, **kwargs: Any) -> None:
        room = to or room
        namespace = namespace or "/"
        if isinstance(room, str) and self.is_sid_room(namespace, room):
            kwargs["ignore_queue"] = True  # a socket of this node: nobody else can reach it
        await super().emit(event, data, namespace=namespace, room=room, skip_sid=skip_sid,
                           callback=callback, **kwargs)

    async def disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        if self.is_connected(sid, namespace) or self.is_pre_connected(sid, namespace):
            kwargs["ignore_queue"] = True  # ours: no other node needs to hear of it
        await super().disconnect(sid, namespace, **kwargs)

    def _channel_for(self, message: dict[str, Any]) -> str:
        room = message.get("room")
        if isinstance(room, list) and len(room) == 1:
            room = room[0]
        if message["method"] in ("emit", "close_room") and isinstance(room, str):
            return self.room_channel(message.get("namespace") or "/", room)
        return self.control_channel

    async def _publish(self, data: dict[str, Any]) -> None:
        # Through the node's ordered publisher (realtime/publisher.py): a room's emits reach
        # Redis in call order on a cluster too, pipelined; a failure is logged there.
        await self._publisher.publish(self._channel_for(data), self.json.dumps(data))

    async def close_publisher(self) -> None:
        """Let queued publishes go out (on shutdown)."""
        await self._publisher.close()

    async def _refresh_slots(self) -> None:
        """On a Redis Cluster, read the slot map again: after a master dies its replica takes
        over its slots, and a client keeping the old map goes on trying the dead server."""
        if not isinstance(self.redis, RedisCluster) or self._refreshing:
            return
        self._refreshing = True
        try:
            await self.redis.nodes_manager.initialize()
        except Exception:
            log.warning("cluster_slots_refresh_failed", exc_info=True)
        finally:
            self._refreshing = False

    # --- receiving -------------------------------------------------------------------------

    async def _next(self, pubsub: Any) -> dict[str, Any] | None:
        if not isinstance(pubsub, ClusterPubSub):
            return await pubsub.get_message(timeout=None)  # type: ignore[no-any-return]
        # One connection per shard with subscriptions; redis-py polls them in turn. A blocking
        # read on one would starve the others, so an idle round waits a little instead.
        message = await pubsub.get_sharded_message(timeout=0.0)
        if message is None:
            await asyncio.sleep(CLUSTER_IDLE_POLL_S)
        return message

    async def _listen(self) -> AsyncIterator[bytes | str]:
        """Messages of the control channel and of this node's rooms; reconnects on errors."""
        delay = 0.5
        while True:
            pubsub = None
            try:
                if isinstance(self.redis, RedisCluster):
                    await self.redis.initialize()  # the slot map, which ssubscribe needs
                pubsub = self.redis.pubsub()
                self._subscribed = {c for c in self._rooms_of if self._wanted(c)}
                self._confirmed = {  # joins still waiting keep waiting on the new connection
                    c: f for c, f in self._confirmed.items()
                    if c in self._subscribed and not f.done()
                }
                for c in self._subscribed:
                    self._confirmation(c)
                await pubsub.ssubscribe(self.control_channel, *self._subscribed)
                self._pubsub = pubsub
                self._connected.set()
                self._wake.set()  # rooms that changed while disconnected
                PUBSUB_SUBSCRIPTIONS.set(len(self._subscribed))
                while True:
                    message = await self._next(pubsub)
                    if message is None:
                        continue
                    delay = 0.5
                    kind = message.get("type")
                    raw = message.get("channel")
                    channel = raw.decode() if isinstance(raw, bytes) else str(raw)
                    if kind == "ssubscribe":
                        future = self._confirmed.get(channel)
                        if future is not None and not future.done():
                            future.set_result(None)
                    elif kind == "smessage":
                        if channel == self.control_channel:
                            _CONTROL_RECEIVED.inc()
                        else:
                            _ROOM_RECEIVED.inc()
                        yield message["data"]
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("pubsub_listener_failed", retry_in_s=delay, exc_info=True)
                self._connected.clear()
                self._pubsub = None
                await asyncio.sleep(delay)
                await self._refresh_slots()
                delay = min(delay * 2, RETRY_MAX_S)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py stub
