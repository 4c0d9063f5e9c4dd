"""Payment webhooks: verify → store once → enqueue settlement → answer the provider.

A notification that fails verification is answered 400 and logged, and nothing is written.
One that verifies is stored under the unique `(provider, provider_event_id)` with the facts
the adapter parsed, the `payments.process_notification` task is enqueued by id (as a task
intent in the same transaction, sent by the task relay, so a broker outage delays settlement by
a second instead of losing the enqueue), and the provider gets the answer it expects (ECPay:
`1|OK`) — for a duplicate too, so it stops retrying; a duplicate is not enqueued again.
"""

from __future__ import annotations

import structlog

from commerce.context import AppContext
from commerce.metrics import PAYMENT_NOTIFICATIONS
from commerce.payment_wire.wire_errors import WireFormatError
from commerce.payments import settlement, tasks
from commerce.payments.errors import InvalidSignature, UnsupportedPayment
from commerce.payments.gateways.base import (
    IrrelevantNotification,
    RawNotification,
    WebhookAnswer,
)
from commerce.payments.gateways.registry import webhook_gateway
from commerce.task_outbox import add_intent
from shared.errors import NotFound

log = structlog.get_logger(__name__)


async def receive_webhook(ctx: AppContext, *, provider: str, raw: RawNotification) -> WebhookAnswer:
    """Verify, store once, enqueue settlement, and return the provider's expected answer."""
    try:
        gateway = webhook_gateway(ctx.settings, provider)
    except UnsupportedPayment as exc:
        raise NotFound(f"no payment webhooks for {provider!r}") from exc
    try:
        parsed = gateway.parse_notification(await gateway.verify_notification(raw))
    except IrrelevantNotification as exc:
        PAYMENT_NOTIFICATIONS.labels(provider, "ignored").inc()
        log.info("payment_webhook_ignored", provider=provider, reason=str(exc))
        return gateway.answer(None)
    except WireFormatError as exc:
        PAYMENT_NOTIFICATIONS.labels(provider, "rejected").inc()
        log.warning("payment_webhook_rejected", provider=provider, reason=str(exc),
                    body_bytes=len(raw.body))
        raise InvalidSignature() from exc
    except InvalidSignature:
        PAYMENT_NOTIFICATIONS.labels(provider, "rejected").inc()
        raise
    durable = ctx.producer.enabled  # with a broker: the task intent commits with the row
    notification_id, new = await settlement.store_notification(
        ctx, provider, parsed,
        then=(lambda session, nid: add_intent(session, tasks.process_notification, nid))
        if durable else None,
    )
    if new and not durable:
        await tasks.enqueue_notification(ctx, notification_id)  # in-process, after the commit
    PAYMENT_NOTIFICATIONS.labels(provider, "accepted" if new else "duplicate").inc()
    log.info("payment_webhook_received", provider=provider, notification_id=notification_id,
             event_id=parsed.provider_event_id, duplicate=not new)
    return gateway.answer(parsed)
