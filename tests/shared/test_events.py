from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from shared import events as ev


def test_round_trip_keeps_type_and_payload() -> None:
    event = ev.OrderPlaced(
        stream_id=7,
        data=ev.OrderPlacedData(
            order_id=1, buyer_id=2, buyer_masked="M***i",
            items=[ev.OrderLine(product_id=3, quantity=2)], total_minor=259800, currency="TWD",
        ),
    )
    decoded = ev.decode(ev.encode(event))
    assert isinstance(decoded, ev.OrderPlaced)
    assert decoded == event
    envelope = orjson.loads(ev.encode(event))
    assert set(envelope) == {"type", "version", "id", "occurred_at", "stream_id", "data"}


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"type": "order.unknown", "data": {}}',
        b'{"type": "stock.changed", "data": {"product_id": "x", "stock": 1}}',
        b'{"type": "stock.changed", "data": {"product_id": 1, "stock": 1, "extra": 1}}',
    ],
)
def test_unknown_or_malformed_events_are_rejected(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        ev.decode(raw)
