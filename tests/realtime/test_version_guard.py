"""The version guard of the library internals under the gateway (`realtime.protocol`)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from realtime import protocol


def test_the_guard_names_the_library_and_both_versions_when_a_pin_moves() -> None:
    with pytest.raises(protocol.ProtocolVersionError) as raised:
        protocol.check_versions({**protocol.PINNED, "python-engineio": "4.16.0"})
    message = str(raised.value)
    assert "python-engineio==4.16.0, but 4.15.1 is installed" in message
    assert isinstance(raised.value, ImportError)  # importing the gateway fails


def test_the_guarded_pins_are_the_project_pins() -> None:
    protocol.check_versions()
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    pins = dict(
        m.groups() for d in project["project"]["dependencies"]
        if (m := re.fullmatch(r"([\w-]+)==([\w.]+)", d))
    )
    assert {name: pins[name] for name in protocol.PINNED} == protocol.PINNED
