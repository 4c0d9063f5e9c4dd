from __future__ import annotations

import subprocess
import sys

import pytest
from redis.asyncio.cluster import RedisCluster

from shared.config.composed import ComposedSettings
from shared.errors import ConfigError
from shared.redis import cluster_nodes, make_redis
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


def test_a_redis_cluster_url_selects_a_cluster_for_all_data() -> None:
    url = "redis+cluster://:secret@10.0.0.1:7001,10.0.0.2"
    settings = load(CommerceSettings, _env_file=None, redis_url=url)
    assert settings.redis_url == url
    client = make_redis(url)
    assert isinstance(client, RedisCluster)
    nodes = [(n.host, n.port) for n in cluster_nodes(url)]
    assert nodes == [("10.0.0.1", 7001), ("10.0.0.2", 6379)]
    assert client.get_connection_kwargs()["password"] == "secret"
    with pytest.raises(ConfigError, match="REDIS_URL"):
        load(CommerceSettings, _env_file=None, redis_url="redis+cluster://")
    with pytest.raises(ConfigError, match="SOCKETIO_MANAGER=single needs one Redis"):
        load(GatewaySettings, _env_file=None, redis_url=url, socketio_manager="single")
    with pytest.raises(ConfigError, match=r"CELERY_BROKER_URL|celery_broker_url"):
        load(CommerceSettings, _env_file=None, celery_broker_url=url)


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


def _value_at(settings: ComposedSettings, model: type[ComposedSettings], field: str) -> object:
    """The value of `field` of the (possibly nested) `model` inside `settings`."""
    if isinstance(settings, model):
        return getattr(settings, field)
    for name in type(settings).model_fields:
        inner = getattr(settings, name)
        if isinstance(inner, ComposedSettings) and inner.find_model(model.__name__):
            return _value_at(inner, model, field)
    raise LookupError(model.__name__)


@pytest.mark.parametrize("cls", [CommerceSettings, GatewaySettings])
def test_every_variable_reaches_its_setting(
    cls: type[ComposedSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concerns are nested models, but each reads its settings under the flat names operators
    use (`ECPAY_MERCHANT_ID`, not `PAYMENTS__ECPAY__MERCHANT_ID`): set every plain text setting
    through its variable and find the value in its field."""
    expected: dict[tuple[str, str], str] = {}
    for env, model, field in cls.env_names():
        annotation = model.model_fields[field].annotation
        checked = {f for v in model.__pydantic_decorators__.field_validators.values()
                   for f in v.info.fields}  # URLs and such: not any text
        if annotation in (str, str | None) and field not in checked:
            monkeypatch.setenv(env, f"from-{env}")
            expected[(model.__name__, field)] = f"from-{env}"
    assert ("EcpaySettings", "merchant_id") in expected or cls is GatewaySettings
    settings = cls(_env_file=None)  # type: ignore[call-arg]
    for env, model, field in cls.env_names():
        if (model.__name__, field) in expected:
            assert _value_at(settings, model, field) == f"from-{env}", env


def test_no_variable_is_renamed() -> None:
    """Moving a setting into a concern keeps its variable: every name operators set before
    issue 19 is still read (new ones may be added)."""
    listed = (REPO_ROOT / "tests/shared/env_names.txt").read_text().split("\n")
    before = {line for line in listed if line and not line.startswith("#")}
    now = {env for cls in (CommerceSettings, GatewaySettings) for env, _, _ in cls.env_names()}
    assert sorted(before - now) == []


def test_a_concern_error_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENTS_HTTP_TIMEOUT_S", "soon")
    with pytest.raises(ConfigError, match="PAYMENTS_HTTP_TIMEOUT_S"):
        load(CommerceSettings, _env_file=None)
    monkeypatch.delenv("PAYMENTS_HTTP_TIMEOUT_S")
    with pytest.raises(ConfigError, match="ECPAY_SANDBOX"):
        load(CommerceSettings, _env_file=None, payments={"ecpay": {"sandbox": "nowhere"}})


def test_overrides_reach_nested_settings_and_stale_flat_names_are_refused() -> None:
    settings = CommerceSettings(  # type: ignore[call-arg]
        _env_file=None, payments={"ecpay": {"merchant_id": "3999999"}})
    assert settings.payments.ecpay.merchant_id == "3999999"
    assert settings.payments.omise.public_key.startswith("pkey_test_")  # the rest: defaults
    moved = settings.updated(payments={"ecpay": {"base_url": "https://x.example"}})
    assert (moved.payments.ecpay.merchant_id, moved.payments.ecpay.base_url) == (
        "3999999", "https://x.example")
    assert settings.payments.ecpay.base_url != "https://x.example"  # a copy
    with pytest.raises(TypeError, match="ecpay_merchant_id"):
        CommerceSettings(_env_file=None, ecpay_merchant_id="3999999")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="ecpay_base_url"):
        settings.model_copy(update={"ecpay_base_url": "https://x.example"})
