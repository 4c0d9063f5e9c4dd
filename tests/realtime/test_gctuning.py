"""The gateway's GC thresholds: a setting (`GC_THRESHOLDS`) applied before it serves."""

from __future__ import annotations

import gc

import pytest

from realtime.gctuning import tune_gc
from shared.errors import ConfigError
from shared.settings import GatewaySettings, load


def test_thresholds_come_from_the_setting_and_are_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(GatewaySettings).gc_thresholds == (100_000, 10, 100)
    monkeypatch.setenv("GC_THRESHOLDS", "[2000,5,50]")
    settings = load(GatewaySettings)
    before = gc.get_threshold()
    try:
        tune_gc(settings.gc_thresholds)
        assert gc.get_threshold() == (2000, 5, 50)
    finally:
        gc.set_threshold(*before)
    monkeypatch.setenv("GC_THRESHOLDS", "[-1,10,10]")
    with pytest.raises(ConfigError):
        load(GatewaySettings)
