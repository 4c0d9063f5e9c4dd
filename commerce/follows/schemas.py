"""`GET /users/me/following` items."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class FollowedSeller(BaseModel):
    seller_id: int
    display_name: str
    followed_at: datetime
