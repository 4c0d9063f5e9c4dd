"""Request shape of `POST /auth/social/{provider}`; the answer is the login `TokenOut`.

Which field a provider needs: `id_token` (Google, Apple, LINE, Kapook, Facebook Limited Login),
`access_token` (Facebook), `code` (Instagram); `nonce` is the raw nonce the app chose, when the
login was bound to one. At least one credential is required; lengths are bounded so a client
cannot make us forward megabytes to a provider.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from commerce.auth.social.base import SocialCredentials
from commerce.users.schemas import StrictInput

Credential = Annotated[str, Field(min_length=1, max_length=8192)]


class SocialLoginIn(StrictInput):
    id_token: Credential | None = None
    access_token: Credential | None = None
    code: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    nonce: Annotated[str, Field(min_length=1, max_length=512)] | None = None

    @model_validator(mode="after")
    def _one_credential(self) -> SocialLoginIn:
        if not (self.id_token or self.access_token or self.code):
            raise ValueError("send the provider's id_token, access_token or code")
        return self

    def credentials(self) -> SocialCredentials:
        return SocialCredentials(
            id_token=self.id_token,
            access_token=self.access_token,
            code=self.code,
            nonce=self.nonce,
        )
