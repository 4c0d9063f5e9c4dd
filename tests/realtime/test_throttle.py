"""The per-socket event limit's moving window (realtime/throttle.py), on the clock it reads."""

from __future__ import annotations

import pytest

from realtime import throttle
from realtime.throttle import EventThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(throttle.time, "monotonic", c)
    return c


def test_a_moving_window_per_socket_and_event(clock: Clock) -> None:
    t = EventThrottle("3/10 seconds")
    assert [t.allow("a", "join") for _ in range(4)] == [True, True, True, False]
    assert t.allow("a", "leave") and t.allow("b", "join"), "per event and per socket"
    clock.now += 5
    assert not t.allow("a", "join"), "refused hits do not count, but the window still holds 3"
    clock.now += 5.01  # the first three hits are now older than the window
    assert [t.allow("a", "join") for _ in range(4)] == [True, True, True, False]


def test_the_window_slides_hit_by_hit(clock: Clock) -> None:
    t = EventThrottle("2/10 seconds")
    assert t.allow("a", "join")
    clock.now += 6
    assert t.allow("a", "join")
    assert not t.allow("a", "join")
    clock.now += 4.5  # only the first hit left the window
    assert t.allow("a", "join")
    assert not t.allow("a", "join")


def test_chat_and_react_have_their_own_limits_and_a_gone_socket_is_forgotten(
    clock: Clock,
) -> None:
    t = EventThrottle("1/minute")
    assert all(t.allow("a", "chat") for _ in range(50))
    assert t.allow("a", "join") and not t.allow("a", "join")
    t.forget("a")
    assert t.allow("a", "join")
    assert t._hits == {"a": {"join": [clock.now]}}  # nothing else kept
