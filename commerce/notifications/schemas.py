"""Inbox shapes (`GET /users/me/notifications`) and the sandbox mailbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from commerce.notifications.models import Notification


class NotificationOut(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    read_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, n: Notification) -> NotificationOut:
        return cls(id=n.id, kind=n.kind, title=n.title, body=n.body, data=n.data or {},
                   read_at=n.read_at, created_at=n.created_at)


class MailboxItem(BaseModel):
    channel: Literal["email", "sms"]
    to: str
    subject: str
    text: str
    kind: str
    locale: str
    sent_at: datetime


class Mailbox(BaseModel):
    items: list[MailboxItem]
