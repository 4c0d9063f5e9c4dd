from __future__ import annotations

import subprocess
import sys

import pytest

from shared.errors import ConfigError
from shared.settings import CommerceSettings, GatewaySettings, load
from tests.helpers.procs import REPO_ROOT, child_env


def test_embedded_default_needs_no_environment() -> None:
    settings = load(CommerceSettings, _env_file=None)
    assert settings.database_url.startswith("sqlite+aiosqlite://")
    assert settings.redis_url is None and settings.celery_broker_url is None


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("database_url", "not a url", "DATABASE_URL"),
        ("database_url", "postgresql://x/y", "DATABASE_URL"),
        ("redis_url", "localhost:6379", "REDIS_URL"),
        ("port", "eighty", "PORT"),
    ],
)
def test_bad_configuration_is_one_clear_error(field: str, value: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load(CommerceSettings, _env_file=None, **{field: value})


def test_production_refuses_development_defaults() -> None:
    with pytest.raises(ConfigError) as err:
        load(CommerceSettings, _env_file=None, app_env="production")
    text = str(err.value)
    for needle in ("JWT_PRIVATE_KEY", "DATABASE_URL", "REDIS_URL", "CORS_ORIGINS"):
        assert needle in text


def test_production_gateway_needs_only_public_key(jwt_keys: tuple[str, str]) -> None:
    settings = load(
        GatewaySettings,
        _env_file=None,
        app_env="production",
        jwt_public_key=jwt_keys[1],
        database_url="mysql+aiomysql://u:p@db/lc",
        redis_url="redis://r:6379/0",
        cors_origins=["https://shop.example"],
    )
    assert settings.is_production


@pytest.mark.parametrize(
    ("module", "env", "needle"),
    [
        ("commerce", {"DATABASE_URL": "mysql+aiomysql://root@127.0.0.1:1/x"}, "cannot reach"),
        ("commerce", {"DATABASE_URL": "::nonsense::"}, "DATABASE_URL"),
        ("commerce", {"APP_ENV": "production"}, "refusing to start in production"),
        ("realtime", {"REDIS_URL": "redis://127.0.0.1:1/0"}, "cannot reach Redis"),
    ],
)
def test_processes_fail_fast_with_one_line(module: str, env: dict[str, str], needle: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "--port", "1"],
        env=child_env(env),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and needle in lines[0]
    assert "Traceback" not in result.stderr
