"""Notification tests run the API's event consumer, with no quiet hours (so marketing messages
go out whatever the time of day the suite runs; the quiet window has tests of its own)."""

from __future__ import annotations

import pytest

from shared.settings import CommerceSettings


@pytest.fixture
def commerce_settings(commerce_settings: CommerceSettings) -> CommerceSettings:
    return commerce_settings.updated(notifications={
        "consumer_enabled": True, "quiet_start_hour": 0, "quiet_end_hour": 0,
    })
