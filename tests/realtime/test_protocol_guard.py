"""realtime/protocol overrides library internals: a changed pin must stop the import."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from realtime.protocol import PINNED, ProtocolVersionError, check_versions


def test_installed_versions_are_the_pinned_ones() -> None:
    assert {dist: version(dist) for dist in PINNED} == PINNED
    check_versions()


def test_another_version_fails_fast_and_says_what_to_do() -> None:
    with pytest.raises(ProtocolVersionError, match=r"python-engineio==0\.0\.1.*realtime/protocol"):
        check_versions({"python-engineio": "0.0.1"})
    assert issubclass(ProtocolVersionError, ImportError)
