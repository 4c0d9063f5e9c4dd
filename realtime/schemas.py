"""Payloads of client events: strict Pydantic models, so bad input becomes an `invalid` ack.

Strict mode: no coercion (`"7"` is not a stream id), unknown fields are refused, strings are
bounded before any normalisation work is done on them. Handlers validate with
`Model.model_validate(data)`; a non-object payload fails the same way as a wrong field.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

# Ids are positive 64-bit integers; JavaScript clients stay exact up to 2**53.
Id = Annotated[StrictInt, Field(gt=0, lt=2**53)]
ReactionKind = Literal["heart", "like", "laugh", "wow", "fire", "clap"]
REACTION_KINDS: tuple[str, ...] = ("heart", "like", "laugh", "wow", "fire", "clap")
MAX_SLOW_MODE_S = 3600
MAX_MUTE_S = 7 * 24 * 3600


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class StreamIn(_In):
    """`join`, `leave`, `unpin`."""

    stream_id: Id


class ChatIn(_In):
    stream_id: Id
    # Raw bound only (before trimming and normalisation); the 1-200 rule is applied by chat.py.
    text: Annotated[StrictStr, Field(max_length=2000)]


class ReactIn(_In):
    stream_id: Id
    kind: ReactionKind


class PinIn(_In):
    stream_id: Id
    product_id: Id
    # A flash sale: the pin carries when it ends (`flash_ends_at`), for the viewers' countdown.
    flash_seconds: Annotated[StrictInt, Field(ge=1, le=24 * 3600)] | None = None


class ResumeIn(_In):
    stream_id: Id
    since_seq: Annotated[StrictInt, Field(ge=0, lt=2**53)]
    # The epoch `since_seq` belongs to (from the join ack or the last event); optional, so
    # clients that predate epochs keep working.
    epoch: Annotated[StrictInt, Field(ge=0, lt=2**53)] | None = None


class ModerateIn(_In):
    """`delete` takes a message id; `mute`/`unmute`/`ban` a user id; `slow_mode` seconds.

    `mute` takes optional seconds (absent: for a week, in practice the whole stream);
    `slow_mode` with 0 turns slow mode off.
    """

    stream_id: Id
    action: Literal["delete", "mute", "unmute", "ban", "slow_mode"]
    target: Annotated[StrictStr, Field(min_length=1, max_length=64)] | Id | None = None
    seconds: Annotated[StrictInt, Field(ge=0, le=MAX_MUTE_S)] | None = None

    @model_validator(mode="after")
    def _shape_per_action(self) -> ModerateIn:
        if self.action == "delete":
            if not isinstance(self.target, str):
                raise ValueError("delete needs target: the message id (string)")
        elif self.action in ("mute", "unmute", "ban"):
            if not isinstance(self.target, int):
                raise ValueError(f"{self.action} needs target: the user id (integer)")
        elif self.seconds is None or self.seconds > MAX_SLOW_MODE_S:
            raise ValueError(f"slow_mode needs seconds between 0 and {MAX_SLOW_MODE_S}")
        return self

    @property
    def user_id(self) -> int:
        assert isinstance(self.target, int)
        return self.target

    @property
    def message_id(self) -> str:
        assert isinstance(self.target, str)
        return self.target


_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(value: object) -> bool:
    """True if any string in the payload holds a lone UTF-16 surrogate (`"\\ud800"`).

    JSON and JavaScript strings may carry them, Python keeps them, but UTF-8 (Redis, MariaDB,
    every other client's decoder) cannot: such a payload is refused as `invalid` up front.
    """
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_lone_surrogate(v) for v in value)
    return False
