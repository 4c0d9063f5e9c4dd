"""`SocialRegistryDep`: the app's verifiers (built once per app by `commerce.app.create_app`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from commerce.auth.social.registry import SocialRegistry


async def get_social_registry(request: Request) -> SocialRegistry:
    registry: SocialRegistry = request.app.state.social_registry
    return registry


SocialRegistryDep = Annotated[SocialRegistry, Depends(get_social_registry)]
