"""Profile shapes shared by `/users/me` and the auth responses (`{user, ...}`).

Input models are strict (no coercion: `"locale": 1` is a 422, not `"1"`) and forbid unknown
fields, so a client cannot slip `role` or `email` into a profile update.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, field_validator

from commerce.auth.models import User

Locale = Literal["en", "zh_TW", "th"]
Market = Literal["TW", "TH"]
Role = Literal["buyer", "seller", "admin"]
DISPLAY_NAME_MAX = 50


def _printable(value: str) -> str:
    # Control characters (newlines, NUL, bidi overrides' neighbours in Cc) have no place in a
    # name shown in chat and order notices; format characters (Cf, e.g. emoji ZWJ) are kept.
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") for ch in value):
        raise ValueError("display_name must not contain control characters")
    return value


DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=DISPLAY_NAME_MAX),
    AfterValidator(_printable),
]


class StrictInput(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class UserOut(BaseModel):
    id: int
    email: str
    display_name: str
    role: Role
    locale: Locale
    market: Market
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
            created_at=user.created_at,
        )


class ProfileUpdate(StrictInput):
    """PATCH /users/me: only what is sent changes; `null` is not a value for any of these."""

    display_name: DisplayName | None = None
    locale: Locale | None = None
    market: Market | None = None

    @field_validator("display_name", "locale", "market", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:  # runs only for fields actually sent
            raise ValueError("must not be null (leave the field out to keep it)")
        return value

    def changes(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump(exclude_unset=True).items() if v is not None}
