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
    s = settings
    mailbox = SandboxMailbox(redis, size=s.sandbox_mailbox_size)
    channels: dict[ChannelName, Channel] = {}
    if s.sendgrid_api_key is not None:
        channels["email"] = SendGridChannel(
            client=client, api_key=s.sendgrid_api_key.get_secret_value(), url=s.sendgrid_api_url,
            from_address=s.email_from_address, from_name=s.email_from_name,
        )
    elif s.smtp_host:
        channels["email"] = SmtpChannel(
            host=s.smtp_host, port=s.smtp_port, username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            starttls=s.smtp_starttls, from_address=s.email_from_address,
            from_name=s.email_from_name, timeout_s=s.notifications_http_timeout_s,
        )
    elif not s.is_production:
        channels["email"] = SandboxChannel("email", mailbox)
    if s.twilio_account_sid and s.twilio_auth_token is not None and s.twilio_from:
        channels["sms"] = TwilioChannel(
            client=client, account_sid=s.twilio_account_sid,
            auth_token=s.twilio_auth_token.get_secret_value(), sender=s.twilio_from,
            api_base=s.twilio_api_base,
        )
    elif not s.is_production:
        channels["sms"] = SandboxChannel("sms", mailbox)
    return channels
