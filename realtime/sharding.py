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
receiving a room's traffic loads only that shard and the nodes with members. A node holds one
subscribing connection per server (`realtime/subscriptions.py`): when a master dies, only its
channels go quiet, and they are subscribed again on the promoted replica once it has taken the
slots over (docs/operations.md, Redis Cluster, failover).

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
from redis.asyncio.cluster import RedisCluster
from socketio.async_pubsub_manager import AsyncPubSubManager

from realtime.metrics import PUBSUB_RECEIVED, PUBSUB_SUBSCRIPTIONS
from realtime.publisher import OrderedPublisher
from realtime.subscriptions import ShardSubscriptions
from realtime.transport import DirectFanout

log = structlog.get_logger(__name__)

_ROOM_RECEIVED = PUBSUB_RECEIVED.labels("room")
_CONTROL_RECEIVED = PUBSUB_RECEIVED.labels("control")
# How long `enter_room` waits for Redis to confirm a new room subscription; past it the join
# goes on (local delivery works) and the subscription is completed when Redis answers.
SUBSCRIBE_WAIT_S = 5.0
# Channels whose server could not be reached are subscribed again after this long, doubling up
# to RETRY_MAX_S (a dead master's replica takes over in a few seconds: node timeout + election).
RETRY_MIN_S = 0.1
RETRY_MAX_S = 1.0


def _numsub(reply: Any) -> int:
    """The count in a `PUBSUB SHARDNUMSUB` reply for one channel, however redis-py shaped it
    (`[channel, n]`, `[(channel, n)]`, or per node `{node: ...}` on a cluster)."""
    if isinstance(reply, dict):
        return sum(_numsub(v) for v in reply.values())
    if not reply:
        return 0
    if isinstance(reply[0], list | tuple):
        return sum(int(pair[1]) for pair in reply)
    return int(reply[1])


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
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._subscriptions = ShardSubscriptions(redis, on_lost=self._lost)
        self._refreshing = False
        self._publisher = OrderedPublisher(redis, on_failure=self._refresh_slots)

    def room_channel(self, namespace: str, room: str) -> str:
        return f"{self.channel}#{namespace}#{room}#"

    # --- which rooms this node needs -------------------------------------------------------

    def initialize(self) -> None:
        super().initialize()  # starts `_thread` (the listener) unless write-only
        if not self.write_only:
            self._dirty.add(self.control_channel)
            self._wake.set()
            self.server.start_background_task(self._reconcile_forever)

    # A room's subscription changes only when its first local member enters or its last one
    # leaves, so only those mark it: in a join storm every joiner of a room after the first
    # used to wake the reconcile loop for nothing (~1.5 % of the storm's CPU, issue 20).

    def basic_enter_room(
        self, sid: str, namespace: str, room: str | None, eio_sid: str | None = None
    ) -> None:
        first = room is not None and room != sid and not self._has_members(namespace, room)
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if first:
            self._mark(namespace, room)  # type: ignore[arg-type]  # `first` implies a room

    def basic_leave_room(self, sid: str, namespace: str, room: str | None) -> None:
        super().basic_leave_room(sid, namespace, room)
        if room is not None and room != sid and not self._has_members(namespace, room):
            self._mark(namespace, room)

    def _has_members(self, namespace: str, room: str | None) -> bool:
        return bool(self.rooms.get(namespace, {}).get(room))

    def _mark(self, namespace: str, room: str) -> None:
        channel = self.room_channel(namespace, room)
        self._rooms_of[channel] = (namespace, room)
        self._dirty.add(channel)
        self._wake.set()

    def _wanted(self, channel: str) -> bool:
        if channel == self.control_channel:
            return True
        namespace, room = self._rooms_of.get(channel, ("", ""))
        return self._has_members(namespace, room)

    def _lost(self, channels: set[str]) -> None:
        """A server's connection failed (or its slot moved away): subscribe its channels again,
        on their slots' current owners. A join meanwhile waits for the new confirmation."""
        for c in channels:
            future = self._confirmed.get(c)
            if future is not None and future.done():
                del self._confirmed[c]
        self._dirty |= channels
        self._wake.set()

    async def enter_room(
        self, sid: str, namespace: str, room: str, eio_sid: str | None = None
    ) -> None:
        await super().enter_room(sid, namespace, room, eio_sid=eio_sid)
        # A socket still in its connect handler counts (it is "pre-connected" until the handler
        # returns): the user room entered there must be heard before the CONNECT ack goes out,
        # or an order status relayed right after the ack is published to a channel this node
        # has not subscribed yet, and lost.
        if self.write_only or not (
            self.is_connected(sid, namespace) or self.is_pre_connected(sid, namespace)
        ):
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
        """Bring the subscriptions in line with the local rooms, whenever they change; channels
        whose server could not be reached are tried again, RETRY_MIN_S to RETRY_MAX_S apart."""
        delay = RETRY_MIN_S
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            try:
                failed = await self._reconcile(dirty)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("pubsub_reconcile_failed", exc_info=True)
                failed = dirty
            if not failed:
                delay = RETRY_MIN_S
                continue
            self._dirty |= failed
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
            self._wake.set()

    async def _reconcile(self, channels: set[str]) -> set[str]:
        """Subscribe the wanted channels, unsubscribe the others; returns those that failed."""
        subscribed = self._subscriptions.channels
        add = [c for c in channels if self._wanted(c) and c not in subscribed]
        drop = [c for c in channels if not self._wanted(c) and c in subscribed]
        for c in add:
            self._confirmation(c)
        for c in drop:
            self._confirmed.pop(c, None)
            if c not in self._dirty:
                self._rooms_of.pop(c, None)
        await self._subscriptions.unsubscribe(drop)
        failed = await self._subscriptions.subscribe(add)
        PUBSUB_SUBSCRIPTIONS.set(len(self._subscriptions.channels))
        return failed

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

    async def emit_to_room(self, event: str, data: Any, *, room: str, namespace: str = "/",
                           local: bool = True) -> int | None:
        """`emit(event, data, room=room)` that says how it went: how many nodes' subscribing
        connections Redis handed the message to (this node's among them when it has members
        there; it ignores its own), or None when the publish failed. For a caller that must
        not lose an emit (`local=False` publishes a repeat for the other nodes only)."""
        # As `AsyncPubSubManager.emit` builds it (no binary attachments: JSON bodies only),
        # delivered to this node's sockets here and published for the others.
        message = {"method": "emit", "event": event, "data": [data], "binary": False,
                   "namespace": namespace, "room": room, "skip_sid": None, "callback": None,
                   "host_id": self.host_id}
        if local:
            await self._handle_emit(message)
        return await self._publisher.publish(self._channel_for(message),
                                             self.json.dumps(message))

    async def subscribers(self, room: str, namespace: str = "/") -> int:
        """How many nodes are subscribed to `room`'s channel now (`PUBSUB SHARDNUMSUB` on the
        server owning it). Raises while that server is unreachable."""
        channel = self.room_channel(namespace, room)
        if isinstance(self.redis, RedisCluster):
            await self.redis.initialize()  # the first slot map (a no-op once read)
            try:
                node = self.redis.get_node_from_key(channel)
                reply = await self.redis.execute_command(
                    "PUBSUB SHARDNUMSUB", channel, target_nodes=node)
            except Exception:
                await self._refresh_slots()  # the channel's server died: ask its successor
                raise
        else:
            reply = await self.redis.execute_command(  # type: ignore[no-untyped-call]
                "PUBSUB SHARDNUMSUB", channel)
        return _numsub(reply)

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

    async def _listen(self) -> AsyncIterator[bytes | str]:
        """Messages of the control channel and of this node's rooms, from every server."""
        while True:
            message = await self._subscriptions.get()
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
