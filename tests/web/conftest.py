"""One `make run` process (devserver.py on SQLite) for the page tests of this folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.procs import Embedded, embedded_platform


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    tmp = tmp_path_factory.mktemp("web")
    with embedded_platform(
        f"sqlite+aiosqlite:///{tmp / 'embedded.db'}",
        SANDBOX_VIDEO_DIR=str(tmp / "video"),
        MEDIA_LOCAL_DIR=str(tmp / "media"),
    ) as running:
        yield running


@pytest.fixture(scope="session")
def api(platform: Embedded) -> str:
    return platform.api
