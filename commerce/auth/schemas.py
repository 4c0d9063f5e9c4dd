"""Request and response shapes of `/auth`.

Emails are normalised here (trimmed, lowercased) so every lookup and the unique index see one
spelling per address. The syntax check is deliberately conservative (dot-atom local part, an
IDNA-valid domain with a dot); deliverability is for a verification mail, not for a regex.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from commerce.auth.passwords import MAX_LENGTH as PASSWORD_MAX
from commerce.users.schemas import DisplayName, Locale, Market, StrictInput, UserOut

EMAIL_MAX = 254
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_email(value: str) -> str:
    """Trim and lowercase, then check the syntax; raises ValueError (a 422) when malformed."""
    email = value.strip().lower()
    if len(email) > EMAIL_MAX or email.count("@") != 1:
        raise ValueError("not a valid email address")
    local, domain = email.split("@")
    if not 1 <= len(local) <= 64 or not _LOCAL.match(local):
        raise ValueError("not a valid email address")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("not a valid email address") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValueError("not a valid email address")
    if labels[-1].isdigit():
        raise ValueError("not a valid email address")
    return email


Email = Annotated[str, Field(min_length=3, max_length=320), AfterValidator(normalize_email)]
# Login never says "malformed email": anything that is no account just fails to authenticate.
LoginEmail = Annotated[
    str, Field(min_length=1, max_length=320), AfterValidator(lambda v: v.strip().lower())
]
Password = Annotated[str, Field(min_length=1, max_length=PASSWORD_MAX)]


class RegisterIn(StrictInput):
    email: Email
    password: Password
    display_name: DisplayName
    # Admins are made by an operator, never self-registered: "admin" is simply not accepted.
    role: Literal["buyer", "seller"] = "buyer"
    locale: Locale | None = None
    market: Market | None = None

    @model_validator(mode="after")
    def _defaults(self) -> RegisterIn:
        """A Thai-speaking sign-up defaults to the TH market, the Thai market to Thai, etc."""
        market = self.market or ("TH" if self.locale == "th" else "TW")
        locale = self.locale or ("th" if market == "TH" else "en")
        object.__setattr__(self, "market", market)
        object.__setattr__(self, "locale", locale)
        return self


class LoginIn(StrictInput):
    email: LoginEmail
    password: Password


class RefreshIn(StrictInput):
    refresh_token: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    user: UserOut
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the OAuth token type, not a secret)
    expires_in: int = Field(description="seconds until the access token expires")


TotpCode = Annotated[str, Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")]
RecoveryCodeIn = Annotated[str, Field(min_length=10, max_length=20, pattern=r"^[A-Za-z0-9 -]+$")]


class TwoFactorChallengeOut(BaseModel):
    """Login's answer when 2FA is on: send `challenge_token` and a code to `/auth/2fa/verify`."""

    two_factor_required: Literal[True] = True
    challenge_token: str
    expires_in: int = Field(description="seconds the challenge can be answered")


class TwoFactorVerifyIn(StrictInput):
    """Exactly one of `code` (from the authenticator app) or `recovery_code`."""

    challenge_token: str = Field(min_length=20, max_length=100)
    code: TotpCode | None = None
    recovery_code: RecoveryCodeIn | None = None

    @model_validator(mode="after")
    def _one_code(self) -> TwoFactorVerifyIn:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("send exactly one of code or recovery_code")
        return self


class TwoFactorCodeIn(StrictInput):
    code: TotpCode


class TwoFactorEnrolmentOut(BaseModel):
    secret: str = Field(description="base32; for apps that cannot scan the QR code")
    otpauth_uri: str
    qr_png_base64: str


class TwoFactorStatusOut(BaseModel):
    enabled: bool
    recovery_codes_left: int


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str] = Field(description="shown once; each works once")
