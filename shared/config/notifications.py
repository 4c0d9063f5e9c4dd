"""Notification settings: the domain's (`NOTIFICATIONS_*` and friends) and the channels' that
deliver them (`EMAIL_*`, `SENDGRID_*`, `SMTP_*`, `TWILIO_*`; commerce/channels).

A channel with no credentials is, outside production, a sandbox whose messages
`GET /api/v1/sandbox/mailbox` lists; in production it is off (its deliveries are `skipped`).
Email: SendGrid when its key is set, else SMTP (AWS SES's SMTP interface) when a host is set.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.config.composed import ComposedSettings


class EmailSettings(ComposedSettings):
    model_config = SettingsConfigDict(env_prefix="EMAIL_")

    from_address: str = "no-reply@livecommerce.example"
    from_name: str = "Live Commerce"


class SendgridSettings(ComposedSettings):
    model_config = SettingsConfigDict(env_prefix="SENDGRID_")

    api_key: SecretStr | None = None
    api_url: str = "https://api.sendgrid.com/v3/mail/send"


class SmtpSettings(ComposedSettings):
    model_config = SettingsConfigDict(env_prefix="SMTP_")

    host: str | None = None  # e.g. email-smtp.ap-southeast-1.amazonaws.com
    port: int = 587
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = True


class TwilioSettings(ComposedSettings):
    model_config = SettingsConfigDict(env_prefix="TWILIO_")

    account_sid: str | None = None
    auth_token: SecretStr | None = None
    # An E.164 number, or a Messaging Service SID (MG...).
    sender: str | None = Field(default=None, validation_alias="TWILIO_FROM")
    api_base: str = "https://api.twilio.com"


class ChannelSettings(ComposedSettings):
    """commerce/channels: how email and SMS leave (or land in the sandbox mailbox)."""

    http_timeout_s: float = Field(
        default=10.0, gt=0, validation_alias="NOTIFICATIONS_HTTP_TIMEOUT_S"
    )
    sandbox_mailbox_size: int = Field(default=1000, ge=1)
    email: EmailSettings = Field(default_factory=EmailSettings)
    sendgrid: SendgridSettings = Field(default_factory=SendgridSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)


class NotificationSettings(ComposedSettings):
    """commerce/notifications: the event consumer, retries, quiet hours and the jobs' sizes."""

    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_")

    consumer_enabled: bool = True  # the event consumer runs in the API process
    consumer_group: str = "commerce-notifications"
    # Bounded retries with exponential back-off (base * 2^attempt, capped) per delivery.
    max_attempts: int = Field(default=5, ge=1, le=20)
    retry_base_s: float = Field(default=5.0, ge=0)
    # Marketing kinds (stream_live, stream_reminder, cart_abandoned) send no email or SMS
    # between these hours of the user's local time (equal hours: no quiet window).
    quiet_start_hour: int = Field(default=22, ge=0, le=23)
    quiet_end_hour: int = Field(default=8, ge=0, le=23)
    # Followers told per fan-out task when a seller goes live.
    follower_fanout_batch: int = Field(
        default=500, ge=1, le=10_000, validation_alias="FOLLOWER_FANOUT_BATCH"
    )
    # Followers are reminded this many minutes before a scheduled stream starts.
    stream_reminder_minutes: int = Field(
        default=15, ge=1, validation_alias="STREAM_REMINDER_MINUTES"
    )
    # A cart untouched this long is reminded (once per cart state).
    cart_abandoned_after_s: int = Field(
        default=6 * 3600, ge=60, validation_alias="CART_ABANDONED_AFTER_S"
    )
