"""The gateway's services, each built by its constructor with its collaborators as typed
arguments (as Centrifugo builds its handlers): siblings get each other here, once, instead of
reaching through a shared context at call time."""

from __future__ import annotations

from dataclasses import dataclass

from realtime.chat import Chat
from realtime.context import GatewayContext
from realtime.control import Control
from realtime.membership import Membership
from realtime.moderation import Moderation
from realtime.pins import Pins
from realtime.presence import Presence
from realtime.reactions import Reactions
from realtime.rooms import control_channel


@dataclass(frozen=True)
class Services:
    presence: Presence
    membership: Membership
    chat: Chat
    reactions: Reactions
    pins: Pins
    moderation: Moderation
    control: Control

    @classmethod
    def build(cls, ctx: GatewayContext) -> Services:
        settings, redis, streams, events = ctx.settings, ctx.redis, ctx.streams, ctx.room_events
        presence = Presence(settings=settings, redis=redis, room_events=events, node_id=ctx.node_id)
        chat = Chat(settings=settings, redis=redis, streams=streams, room_events=events,
                    limiter=ctx.limiter)
        control = Control(redis, control_channel(settings.socketio_channel),
                          distributed=bool(settings.redis_url))
        moderation = Moderation(redis=redis, streams=streams, room_events=events, chat=chat,
                                control=control,
                                batch_interval_s=settings.join_batch_interval_s)
        return cls(
            presence=presence,
            membership=Membership(settings=settings, redis=redis, sio=ctx.sio, streams=streams,
                                  room_events=events, presence=presence, moderation=moderation),
            chat=chat,
            reactions=Reactions(settings=settings, redis=redis, streams=streams,
                                room_events=events),
            pins=Pins(redis=redis, streams=streams, room_events=events),
            moderation=moderation,
            control=control,
        )
