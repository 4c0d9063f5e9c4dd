"""Notification tasks on the `notifications` queue: thin wrappers over the services.

- `notifications.deliver`: one email or SMS; a retryable failure is tried again later with
  exponential back-off (a new task with a countdown), up to `NOTIFICATIONS_MAX_ATTEMPTS`; the
  last failure raises, so the task is dead-lettered with its delivery id and the error.
- `notifications.deliver_batch`: the messages of one batch of events (the event consumer's
  path): one claim, one read and one `sent` update for all of them, each message's retries
  then on its own `notifications.deliver`; a message that failed for good makes the batch task
  raise (dead-lettered with the batch's ids and the failed ones named in the error).
- `notifications.fanout` plans a stream's followers into batches (keyset ranges of follower
  ids) and `notifications.fanout_batch` notifies one range and sends its messages itself, so
  100,000 followers are a few hundred tasks, not 100,000.
"""

from __future__ import annotations

from commerce.context import AppContext
from commerce.notifications import delivery, fanout
from commerce.tasks import async_task, enqueue


class DeliveryFailed(RuntimeError):
    """A delivery failed for good (rejected, or out of attempts)."""


async def deliver_later(ctx: AppContext, outcome: delivery.Outcome) -> None:
    for delivery_id, attempts in outcome.retry:
        await enqueue(ctx, deliver, delivery_id,
                      countdown=delivery.retry_delay_s(ctx, attempts))


@async_task("notifications.deliver", queue="notifications")
async def deliver(ctx: AppContext, delivery_id: int) -> str:
    outcome = await delivery.send_deliveries(ctx, [delivery_id])
    await deliver_later(ctx, outcome)
    if outcome.failed:
        raise DeliveryFailed(f"delivery {delivery_id}: {outcome.failed[0][1]}")
    return "sent" if outcome.sent else ("retry" if outcome.retry else "nothing to send")


async def deliver_all(ctx: AppContext, delivery_ids: list[int]) -> None:
    """One task per delivery (a beat job's few messages)."""
    for delivery_id in delivery_ids:
        await enqueue(ctx, deliver, delivery_id)


@async_task("notifications.deliver_batch", queue="notifications")
async def deliver_batch(ctx: AppContext, delivery_ids: list[int]) -> str:
    outcome = await delivery.send_deliveries(ctx, delivery_ids)
    await deliver_later(ctx, outcome)
    if outcome.failed:
        failed = "; ".join(f"{i}: {error}" for i, error in outcome.failed)
        raise DeliveryFailed(f"deliveries failed for good: {failed}")
    return f"{len(outcome.sent)} sent, {len(outcome.retry)} to retry"


async def deliver_batch_later(ctx: AppContext, delivery_ids: list[int]) -> None:
    """One task for a batch's messages (nothing to queue for none)."""
    if delivery_ids:
        await enqueue(ctx, deliver_batch, delivery_ids)


@async_task("notifications.fanout", queue="notifications")
async def fanout_plan(ctx: AppContext, kind: str, stream_id: int) -> int:
    """Split the host's followers into batches; returns how many batch tasks were queued."""
    batches = 0
    async for first_id, last_id in fanout.follower_ranges(ctx, kind=kind, stream_id=stream_id):
        await enqueue(ctx, fanout_batch, kind, stream_id, first_id, last_id)
        batches += 1
    return batches


@async_task("notifications.fanout_batch", queue="notifications")
async def fanout_batch(
    ctx: AppContext, kind: str, stream_id: int, first_id: int, last_id: int
) -> int:
    outcome = await fanout.notify_range(
        ctx, kind=kind, stream_id=stream_id, first_id=first_id, last_id=last_id
    )
    await deliver_later(ctx, outcome)
    return len(outcome.sent)
