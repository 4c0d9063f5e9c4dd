"""SMS through Twilio's Messages API.

`POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic auth with the Account
SID and auth token, form-encoded `To`, `Body` and either `From` (a number) or
`MessagingServiceSid` (an `MG…` SID); Twilio answers 201 with the message resource.
"""

from __future__ import annotations

import httpx

from commerce.channels.base import (
    ChannelName,
    OutgoingMessage,
    SendFailed,
    http_failure,
)


class TwilioChannel:
    name: ChannelName = "sms"
    provider = "twilio"

    def __init__(
        self, *, client: httpx.AsyncClient, account_sid: str, auth_token: str, sender: str,
        api_base: str,
    ) -> None:
        self._client = client
        self._auth = (account_sid, auth_token)
        self._sender = sender
        self._url = f"{api_base.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"

    async def send(self, message: OutgoingMessage) -> None:
        form = {"To": message.to, "Body": message.text}
        if self._sender.startswith("MG"):
            form["MessagingServiceSid"] = self._sender
        else:
            form["From"] = self._sender
        try:
            response = await self._client.post(self._url, data=form, auth=self._auth)
        except httpx.HTTPError as exc:
            raise SendFailed(f"twilio unreachable: {type(exc).__name__}", retryable=True) from None
        if response.status_code != 201:
            raise http_failure("twilio", response.status_code, response.text)
