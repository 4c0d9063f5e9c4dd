"""Which provider each channel uses, from the settings: credentials set means the real provider;
none means the sandbox mailbox outside production, and no channel at all in production (its
deliveries are recorded as `skipped`)."""

from __future__ import annotations

import httpx
import redis.asyncio as aioredis

from commerce.channels.base import Channel, ChannelName
from commerce.channels.sandbox import SandboxChannel, SandboxMailbox
from commerce.channels.sendgrid import SendGridChannel
from commerce.channels.smtp import SmtpChannel
from commerce.channels.twilio import TwilioChannel
from shared.settings import CommerceSettings


def build_channels(
    settings: CommerceSettings, *, redis: aioredis.Redis, client: httpx.AsyncClient
) -> dict[ChannelName, Channel]:
    c = settings.channels
    mailbox = SandboxMailbox(redis, size=c.sandbox_mailbox_size)
    channels: dict[ChannelName, Channel] = {}
    email = c.email
    if c.sendgrid.api_key is not None:
        channels["email"] = SendGridChannel(
            client=client, api_key=c.sendgrid.api_key.get_secret_value(), url=c.sendgrid.api_url,
            from_address=email.from_address, from_name=email.from_name,
        )
    elif (smtp := c.smtp).host:
        channels["email"] = SmtpChannel(
            host=smtp.host, port=smtp.port, username=smtp.username,
            password=smtp.password.get_secret_value() if smtp.password else None,
            starttls=smtp.starttls, from_address=email.from_address,
            from_name=email.from_name, timeout_s=c.http_timeout_s,
        )
    elif not settings.is_production:
        channels["email"] = SandboxChannel("email", mailbox)
    twilio = c.twilio
    if twilio.account_sid and twilio.auth_token is not None and twilio.sender:
        channels["sms"] = TwilioChannel(
            client=client, account_sid=twilio.account_sid,
            auth_token=twilio.auth_token.get_secret_value(), sender=twilio.sender,
            api_base=twilio.api_base,
        )
    elif not settings.is_production:
        channels["sms"] = SandboxChannel("sms", mailbox)
    return channels
