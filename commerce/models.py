"""Imports every domain's models so `Base.metadata` is complete (Alembic, tests)."""

from commerce.auth.models import RefreshToken, SocialAccount, User
from commerce.catalog.models import Product, ProductSearchGram, ProductSearchText
from commerce.db import Base
from commerce.media.models import Upload
from commerce.orders.models import IdempotencyRecord, Order, OrderItem, Shipment
from commerce.outbox import OutboxEvent
from commerce.payments.models import Payment, PaymentNotification, Refund
from commerce.streams.models import Stream, StreamProduct

__all__ = [
    "Base",
    "IdempotencyRecord",
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
    "StreamProduct",
    "Upload",
    "User",
]
