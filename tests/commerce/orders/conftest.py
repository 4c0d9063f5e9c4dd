"""Every orders test runs twice: `POST /orders` served by the hot route (commerce/hot_routes.py,
the default) and by the FastAPI route it stands in front of, so the two cannot drift apart."""

from __future__ import annotations

import pytest

from shared.settings import CommerceSettings


@pytest.fixture(params=["hot-route", "fastapi-route"])
def commerce_settings(
    request: pytest.FixtureRequest, commerce_settings: CommerceSettings
) -> CommerceSettings:
    return commerce_settings.model_copy(update={"hot_routes_enabled": request.param == "hot-route"})
