"""Imports every domain's models so `Base.metadata` is complete (Alembic, tests)."""

from commerce.analytics.models import StreamAnalytics
from commerce.auth.models import RefreshToken, SocialAccount, User
from commerce.auth.revocations import TokenRevocation
from commerce.catalog.models import Product, ProductSearchGram, ProductSearchText
from commerce.db import Base
from commerce.follows.models import Follow
from commerce.media.models import Upload
from commerce.notifications.models import Notification, NotificationDelivery
from commerce.orders.models import IdempotencyRecord, Order, OrderItem, Shipment
from commerce.outbox import OutboxEvent
from commerce.payments.models import Payment, PaymentNotification, Refund
from commerce.streams.models import Stream, StreamProduct
from commerce.task_outbox import TaskIntent

__all__ = [
    "Base",
    "Follow",
    "IdempotencyRecord",
    "Notification",
    "NotificationDelivery",
    "Order",
    "OrderItem",
    "OutboxEvent",
    "Payment",
    "PaymentNotification",
    "Product",
    "ProductSearchGram",
    "ProductSearchText",
    "RefreshToken",
    "Refund",
    "Shipment",
    "SocialAccount",
    "Stream",
    "StreamAnalytics",
    "StreamProduct",
    "TaskIntent",
    "TokenRevocation",
    "Upload",
    "User",
]
