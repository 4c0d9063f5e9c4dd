"""Local fakes of SendGrid's v3 Mail Send API and Twilio's Messages API over real HTTP, and an
SMTP server (aiosmtpd) with AUTH, standing in for AWS SES's SMTP interface.

Each checks what the provider documents: SendGrid wants `Authorization: Bearer <key>` and a JSON
body with `personalizations[].to[].email`, `from.email`, `subject` and `content[]{type, value}`,
answering 202 with no body (401 with `errors[]` for a bad key, 400 for a bad body). Twilio wants
HTTP Basic auth `AccountSid:AuthToken` on `/2010-04-01/Accounts/{AccountSid}/Messages.json` and a
form with `To` (E.164), `Body` and `From` or `MessagingServiceSid`, answering 201 with the message
resource (401 code 20003, 400 code 21211 for a bad number). `fail_next` makes the next answers
errors, to exercise retries.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.payments.server import serve
from tests.helpers.procs import free_port

SENDGRID_KEY = "SG.fake-key.fake-secret"
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "fake-twilio-auth-token"
SMTP_USER = "AKIAFAKESESUSER"
SMTP_PASSWORD = "fake-ses-smtp-password"
E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")


@dataclass
class FakeProviders:
    emails: list[dict[str, Any]] = field(default_factory=list)
    sms: list[dict[str, str]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer next, in order
    base_url: str = ""

    def _failure(self) -> Response | None:
        if self.fail_next:
            return JSONResponse({"errors": [{"message": "unavailable"}]},
                                status_code=self.fail_next.pop(0))
        return None

    async def sendgrid(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {SENDGRID_KEY}":
            return JSONResponse({"errors": [{
                "message": "The provided authorization grant is invalid, expired, or revoked",
                "field": None, "help": None}]}, status_code=401)
        if not request.headers.get("content-type", "").startswith("application/json"):
            return JSONResponse({"errors": [{"message": "bad content type"}]}, status_code=400)
        body = await request.json()
        try:
            recipients = [to["email"] for p in body["personalizations"] for to in p["to"]]
            ok = (recipients and body["from"]["email"] and body["subject"]
                  and all(c["type"] and c["value"] for c in body["content"]))
        except (KeyError, TypeError):
            ok = False
        if not ok:
            return JSONResponse({"errors": [{"message": "invalid body"}]}, status_code=400)
        if failure := self._failure():
            return failure
        self.emails.append(body)
        return Response(status_code=202)

    async def twilio(self, request: Request) -> Response:
        expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if (request.path_params["sid"] != TWILIO_SID
                or request.headers.get("authorization") != f"Basic {expected}"):
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401},
                                status_code=401)
        form = {k: str(v) for k, v in (await request.form()).items()}
        if not E164.match(form.get("To", "")):
            return JSONResponse({"code": 21211, "message": "Invalid 'To' Phone Number",
                                 "status": 400}, status_code=400)
        if not form.get("Body") or not (form.get("From") or form.get("MessagingServiceSid")):
            return JSONResponse({"code": 21602, "message": "Message body is required",
                                 "status": 400}, status_code=400)
        if failure := self._failure():
            return failure
        self.sms.append(form)
        return JSONResponse({"sid": "SM" + secrets.token_hex(16), "status": "queued",
                             "to": form["To"], "body": form["Body"]}, status_code=201)

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v3/mail/send", self.sendgrid, methods=["POST"]),
            Route("/2010-04-01/Accounts/{sid}/Messages.json", self.twilio, methods=["POST"]),
        ])


@contextmanager
def serve_fake_providers() -> Iterator[FakeProviders]:
    with serve(FakeProviders()) as fake:
        yield fake


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        parsed = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted"


@contextmanager
def serve_fake_smtp() -> Iterator[tuple[int, _Inbox]]:
    inbox = _Inbox()

    def authenticate(server: Any, session: Session, envelope: Envelope, mechanism: str,
                     data: Any) -> AuthResult:
        if (isinstance(data, LoginPassword) and data.login.decode() == SMTP_USER
                and data.password.decode() == SMTP_PASSWORD):
            inbox.logins.append(SMTP_USER)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=authenticate,
                            auth_required=True, auth_require_tls=False)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()
