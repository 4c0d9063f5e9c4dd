"""The version guard of the library internals under the gateway's transport tuning."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from realtime import internals


def test_the_guard_names_the_library_and_both_versions_when_a_pin_moves() -> None:
    installed = {**internals.PINNED, "python-engineio": "4.16.0"}
    with pytest.raises(internals.InternalsChanged) as raised:
        internals.check(installed.__getitem__)
    message = str(raised.value)
    assert "python-engineio 4.16.0 (checked: 4.15.1)" in message
    assert "python-socketio" not in message
    assert isinstance(raised.value, ImportError)  # importing realtime.transport fails


def test_the_guard_passes_on_what_is_installed_and_matches_pyproject() -> None:
    internals.check()
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    pins = dict(
        m.groups() for d in project["project"]["dependencies"]
        if (m := re.fullmatch(r"([\w-]+)==([\w.]+)", d))
    )
    assert {name: pins[name] for name in internals.PINNED} == dict(internals.PINNED)
