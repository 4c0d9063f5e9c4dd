"""Email through SendGrid's v3 Mail Send API (`POST /v3/mail/send`, Bearer API key, 202).

Request body per SendGrid's reference: `personalizations[].to[]`, `from`, `subject`,
`content[]` (text/plain), plus `custom_args` carrying our idempotency key so a message can be
matched to its delivery in SendGrid's event webhook and activity feed.
"""

from __future__ import annotations

import httpx

from commerce.channels.base import (
    ChannelName,
    OutgoingMessage,
    SendFailed,
    http_failure,
)


class SendGridChannel:
    name: ChannelName = "email"
    provider = "sendgrid"

    def __init__(
        self, *, client: httpx.AsyncClient, api_key: str, url: str, from_address: str,
        from_name: str,
    ) -> None:
        self._client = client
        self._api_key = api_key
        self._url = url
        self._from = {"email": from_address, "name": from_name}

    async def send(self, message: OutgoingMessage) -> None:
        payload = {
            "personalizations": [{"to": [{"email": message.to}]}],
            "from": self._from,
            "subject": message.subject,
            "content": [{"type": "text/plain", "value": message.text}],
            "custom_args": {"idempotency_key": message.idempotency_key, "kind": message.kind},
        }
        try:
            response = await self._client.post(
                self._url, json=payload, headers={"Authorization": f"Bearer {self._api_key}"}
            )
        except httpx.HTTPError as exc:
            raise SendFailed(
                f"sendgrid unreachable: {type(exc).__name__}", retryable=True
            ) from None
        if response.status_code != 202:
            raise http_failure("sendgrid", response.status_code, response.text)
