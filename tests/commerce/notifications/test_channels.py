"""Each provider adapter against a local fake of its documented API, and delivery retries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import select

from commerce.channels.base import OutgoingMessage, SendFailed
from commerce.channels.sendgrid import SendGridChannel
from commerce.channels.smtp import SmtpChannel
from commerce.channels.twilio import TwilioChannel
from commerce.context import AppContext
from commerce.notifications import delivery
from commerce.notifications.models import NotificationDelivery
from commerce.notifications.service import notify_users
from commerce.notifications.values import Money
from tests.commerce.factories import make_user
from tests.fakes import messaging
from tests.fakes.messaging import FakeProviders, serve_fake_providers, serve_fake_smtp

EMAIL = OutgoingMessage(channel="email", to="mei@example.test", subject="訂單 #7 付款成功",
                        text="我們已收到款項 NT$1,290", kind="order_paid", locale="zh_TW",
                        idempotency_key="notification-delivery-7")
SMS = OutgoingMessage(channel="sms", to="+66812345678", subject="", text="ชำระเงินสำเร็จ",
                      kind="order_paid", locale="th", idempotency_key="notification-delivery-8")


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    with serve_fake_providers() as providers:
        yield providers


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as http:
        yield http


def sendgrid(fake: FakeProviders, client: httpx.AsyncClient, key: str = messaging.SENDGRID_KEY
             ) -> SendGridChannel:
    return SendGridChannel(client=client, api_key=key, url=f"{fake.base_url}/v3/mail/send",
                           from_address="no-reply@shop.example", from_name="Live Commerce")


async def test_sendgrid_sends_the_documented_request(
    fake: FakeProviders, client: httpx.AsyncClient
) -> None:
    await sendgrid(fake, client).send(EMAIL)
    assert fake.emails == [{
        "personalizations": [{"to": [{"email": "mei@example.test"}]}],
        "from": {"email": "no-reply@shop.example", "name": "Live Commerce"},
        "subject": "訂單 #7 付款成功",
        "content": [{"type": "text/plain", "value": "我們已收到款項 NT$1,290"}],
        "custom_args": {"idempotency_key": "notification-delivery-7", "kind": "order_paid"},
    }]
    with pytest.raises(SendFailed) as bad_key:
        await sendgrid(fake, client, key="SG.wrong").send(EMAIL)
    assert not bad_key.value.retryable and "401" in str(bad_key.value)
    fake.fail_next = [429]
    with pytest.raises(SendFailed) as throttled:
        await sendgrid(fake, client).send(EMAIL)
    assert throttled.value.retryable and len(fake.emails) == 1


async def test_twilio_sends_the_documented_form(
    fake: FakeProviders, client: httpx.AsyncClient
) -> None:
    def channel(sender: str, token: str = messaging.TWILIO_TOKEN) -> TwilioChannel:
        return TwilioChannel(client=client, account_sid=messaging.TWILIO_SID, auth_token=token,
                             sender=sender, api_base=fake.base_url)

    await channel("+15005550006").send(SMS)
    await channel("MG" + "1" * 32).send(SMS)
    assert fake.sms == [
        {"To": "+66812345678", "Body": "ชำระเงินสำเร็จ", "From": "+15005550006"},
        {"To": "+66812345678", "Body": "ชำระเงินสำเร็จ", "MessagingServiceSid": "MG" + "1" * 32},
    ]
    with pytest.raises(SendFailed) as bad_auth:
        await channel("+15005550006", token="wrong").send(SMS)
    assert not bad_auth.value.retryable
    fake.fail_next = [503]
    with pytest.raises(SendFailed) as down:
        await channel("+15005550006").send(SMS)
    assert down.value.retryable


async def test_smtp_logs_in_and_sends_a_utf8_message() -> None:
    with serve_fake_smtp() as (port, inbox):
        def channel(password: str) -> SmtpChannel:
            return SmtpChannel(host="127.0.0.1", port=port, username=messaging.SMTP_USER,
                               password=password, starttls=False,
                               from_address="no-reply@shop.example", from_name="Live Commerce",
                               timeout_s=5)

        await channel(messaging.SMTP_PASSWORD).send(EMAIL)
        with pytest.raises(SendFailed) as refused:
            await channel("wrong").send(EMAIL)
    assert not refused.value.retryable
    assert inbox.logins == [messaging.SMTP_USER]
    [mail] = inbox.messages
    assert mail["Subject"] == "訂單 #7 付款成功" and mail["To"] == "mei@example.test"
    assert mail["Message-ID"] == "<notification-delivery-7@shop.example>"
    assert mail.get_content().strip() == "我們已收到款項 NT$1,290"


async def test_a_failed_send_is_retried_later_and_sent_once(
    ctx: AppContext, fake: FakeProviders, client: httpx.AsyncClient
) -> None:
    buyer, _ = await make_user(ctx)
    ctx.channels = {"email": sendgrid(fake, client)}
    ids = await notify_users(
        ctx, user_ids=[buyer.id], kind="order_paid", dedup_key="order_paid:1",
        values={"order_id": 1, "total": Money(129000, "TWD"), "paid_at": buyer.created_at},
        data={"order_id": 1}, channels={"email"},
    )
    assert len(ids) == 1
    fake.fail_next = [503]
    first = await delivery.send_deliveries(ctx, ids)
    assert first.retry == [(ids[0], 1)] and not first.sent
    assert delivery.retry_delay_s(ctx, 1) < delivery.retry_delay_s(ctx, 2)
    second = await delivery.send_deliveries(ctx, ids)
    third = await delivery.send_deliveries(ctx, ids)
    assert second.sent == ids and not third.sent and not third.retry
    assert len(fake.emails) == 1 and fake.emails[0]["subject"] == "訂單 #1 付款成功"
    async with ctx.sessions() as session:
        row = await session.scalar(select(NotificationDelivery))
    assert row is not None and (row.status, row.attempts, row.last_error) == ("sent", 2, None)


async def test_out_of_attempts_is_failed_for_good(
    ctx: AppContext, fake: FakeProviders, client: httpx.AsyncClient
) -> None:
    buyer, _ = await make_user(ctx)
    ctx.channels = {"email": sendgrid(fake, client)}
    ids = await notify_users(
        ctx, user_ids=[buyer.id], kind="cart_abandoned", dedup_key="cart:x",
        values={"count": 2}, data={}, channels={"email"},
        now=buyer.created_at.replace(hour=6),  # 14:00 in Taipei: outside the quiet hours
    )
    fake.fail_next = [500] * ctx.settings.notifications.max_attempts
    outcomes = [await delivery.send_deliveries(ctx, ids)
                for _ in range(ctx.settings.notifications.max_attempts + 1)]
    assert [bool(o.retry) for o in outcomes[:-2]] == [True] * (len(outcomes) - 2)
    assert outcomes[-2].failed and "500" in outcomes[-2].failed[0][1]
    assert not outcomes[-1].sent and not outcomes[-1].failed and fake.emails == []
