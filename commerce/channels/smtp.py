"""Email over SMTP, the way AWS SES's SMTP interface takes it (STARTTLS on 587, SMTP AUTH with
the SES SMTP credentials). The standard library's client runs in a thread with a timeout on
every socket operation; a `Message-ID` derived from the idempotency key lets receivers drop a
duplicate should a retry follow a lost reply."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr

from commerce.channels.base import ChannelName, OutgoingMessage, SendFailed


class SmtpChannel:
    name: ChannelName = "email"
    provider = "smtp"

    def __init__(
        self, *, host: str, port: int, username: str | None, password: str | None,
        starttls: bool, from_address: str, from_name: str, timeout_s: float,
    ) -> None:
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._starttls = starttls
        self._from = formataddr((from_name, from_address))
        self._domain = from_address.rsplit("@", 1)[-1]
        self._timeout = timeout_s

    def _build(self, message: OutgoingMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._from
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Message-ID"] = f"<{message.idempotency_key}@{self._domain}>"
        mail.set_content(message.text)
        return mail

    def _send_blocking(self, mail: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as client:
            if self._starttls:
                client.starttls(context=ssl.create_default_context())
            if self._username and self._password:
                client.login(self._username, self._password)
            client.send_message(mail)

    async def send(self, message: OutgoingMessage) -> None:
        mail = self._build(message)
        try:
            await asyncio.to_thread(self._send_blocking, mail)
        except smtplib.SMTPAuthenticationError as exc:
            raise SendFailed(f"smtp auth refused: {exc.smtp_code}", retryable=False) from None
        except smtplib.SMTPRecipientsRefused:
            raise SendFailed("smtp recipient refused", retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            # 4xx: try again later (throttling, greylisting); 5xx: permanent.
            raise SendFailed(
                f"smtp answered {exc.smtp_code}", retryable=400 <= exc.smtp_code < 500
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SendFailed(f"smtp unreachable: {type(exc).__name__}", retryable=True) from None
