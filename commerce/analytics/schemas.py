"""`GET /streams/{id}/analytics`."""

from __future__ import annotations

from pydantic import BaseModel


class Gmv(BaseModel):
    currency: str
    amount: str  # two decimals, like every amount of the API


class StreamAnalyticsOut(BaseModel):
    stream_id: int
    status: str
    final: bool  # frozen at the end of the stream (else live numbers)
    peak_viewers: int
    unique_viewers: int
    signed_in_viewers: int
    chat_messages: int
    reactions: int
    orders: int
    units_sold: int
    buyers: int
    gmv: list[Gmv]
    conversion_rate: float  # buyers / unique signed-in viewers (0 when none)
