"""Every script, compose file and manifest that starts a Redis starts it with its append-only
file, fsynced every second (issue 21: a Redis without it loses room events, revocations and
undelivered events on a restart)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = [
    *ROOT.glob("scripts/*.sh"), ROOT / "docker-compose.yml", ROOT / "Makefile",
    *ROOT.glob("docker/*"), *ROOT.glob("deploy/**/*.y*ml"), *ROOT.glob(".ci/*"),
]
# `redis-server` run as a command (not `command -v redis-server` or a package name).
STARTS_REDIS = re.compile(r"""(^|[\s"'\[])redis-server["']?(\s|,|$)(?!.*apt)""", re.M)


def starters() -> list[Path]:
    out = []
    for path in CANDIDATES:
        text = path.read_text(errors="replace") if path.is_file() else ""
        lines = [line for line in text.splitlines()
                 if "redis-server" in line and not re.search(r"have |command -v|missing", line)]
        if any(STARTS_REDIS.search(line) for line in lines):
            out.append(path)
    return out


def test_something_starts_redis() -> None:
    names = {p.name for p in starters()}
    assert {"ensure_services.sh", "docker-compose.yml"} <= names, names


@pytest.mark.parametrize("path", starters(), ids=lambda p: str(p.relative_to(ROOT)))
def test_redis_is_started_with_aof_everysec(path: Path) -> None:
    text = re.sub(r"[\"',\[\]]", " ", path.read_text())
    assert re.search(r"--appendonly\s+yes", text), path
    assert re.search(r"--appendfsync\s+everysec", text), path
    assert not re.search(r"--appendonly\s+no", text), path
