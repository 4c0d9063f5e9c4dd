"""Profile shapes shared by `/users/me` and the auth responses (`{user, ...}`).

Input models are strict (no coercion: `"locale": 1` is a 422, not `"1"`) and forbid unknown
fields, so a client cannot slip `role` or `email` into a profile update.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, field_validator

from commerce.auth.models import User
from shared.text import line_validator

Locale = Literal["en", "zh_TW", "th"]
Market = Literal["TW", "TH"]
Role = Literal["buyer", "seller", "admin"]
DISPLAY_NAME_MAX = 50


# Shown in chat and order notices: shared.text (strict) refuses control and bidi characters
# (NUL, CR/LF, U+202E) and names with nothing visible; format characters inside visible text
# (emoji ZWJ sequences) are kept.
DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=DISPLAY_NAME_MAX),
    AfterValidator(line_validator(DISPLAY_NAME_MAX)),
]


class StrictInput(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class NotificationPrefs(BaseModel):
    """Where notifications go; every channel is on until the user turns it off."""

    email: bool = True
    sms: bool = True
    in_app: bool = True


class NotificationPrefsUpdate(StrictInput):
    email: bool | None = None
    sms: bool | None = None
    in_app: bool | None = None


# E.164: "+", country code, subscriber number; 8 to 15 digits in all.
Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{7,14}$")]


class UserOut(BaseModel):
    id: int
    email: str
    display_name: str
    role: Role
    locale: Locale
    market: Market
    phone: str | None = None
    notification_prefs: NotificationPrefs = NotificationPrefs()
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            role=user.role,
            locale=user.locale,
            market=user.market,
            phone=user.phone,
            notification_prefs=NotificationPrefs(**(user.notification_prefs or {})),
            created_at=user.created_at,
        )


class ProfileUpdate(StrictInput):
    """PATCH /users/me: only what is sent changes; `null` is not a value for any of these."""

    display_name: DisplayName | None = None
    locale: Locale | None = None
    market: Market | None = None
    # `null` removes the phone number (no more SMS).
    phone: Phone | None = None
    # Only the channels sent change.
    notification_prefs: NotificationPrefsUpdate | None = None

    @field_validator("display_name", "locale", "market", "notification_prefs", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:  # runs only for fields actually sent
            raise ValueError("must not be null (leave the field out to keep it)")
        return value

    def changes(self) -> dict[str, str | None]:
        """Plain profile fields sent (`phone` may be None: removed)."""
        sent = self.model_dump(exclude_unset=True, exclude={"notification_prefs"})
        return {k: v for k, v in sent.items() if v is not None or k == "phone"}

    def prefs_changes(self) -> dict[str, bool]:
        if self.notification_prefs is None:
            return {}
        return self.notification_prefs.model_dump(exclude_unset=True, exclude_none=True)
