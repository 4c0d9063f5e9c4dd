"""Typed settings, read once per process from the environment (12-factor) and `.env`.

Nothing else in the code base reads `os.environ`: each process builds its settings object in
`__main__` (or the test builds one) and passes it into `create_app(settings)`. One subclass per
process keeps each process's knobs next to each other while sharing the common ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from shared.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = ROOT / "var"
DEFAULT_SQLITE_URL = f"sqlite+aiosqlite:///{VAR_DIR / 'livecommerce.db'}"

AppEnv = Literal["development", "test", "production"]


class BaseAppSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    app_env: AppEnv = "development"
    service_name: str = "livecommerce"
    log_level: str = "INFO"
    log_json: bool = True

    database_url: str = DEFAULT_SQLITE_URL
    database_pool_size: int = 20
    database_max_overflow: int = 20
    database_connect_timeout_s: float = 5.0

    # Unset: in-process event bus, in-memory socket.io manager and an in-process Redis stand-in
    # (the embedded default). Set: everything shares this Redis.
    redis_url: str | None = None
    events_stream: str = "events"
    events_stream_maxlen: int = 100_000
    gateway_consumer_group: str = "gateway"

    celery_broker_url: str | None = None
    celery_result_backend: str | None = None

    # JWT (ES256). Production passes PEMs (or files); development generates a key pair under
    # var/ so every local process signs and verifies with the same key.
    jwt_algorithm: Literal["ES256"] = "ES256"
    jwt_private_key: SecretStr | None = None
    jwt_private_key_file: Path | None = None
    jwt_public_key: str | None = None
    jwt_public_key_file: Path | None = None
    jwt_issuer: str = "livecommerce"
    jwt_audience: str = "livecommerce"
    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_s: int = 30 * 24 * 3600

    cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    sentry_dsn: SecretStr | None = None

    @field_validator("database_url")
    @classmethod
    def _valid_db_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"malformed DATABASE_URL: {exc}") from None
        if url.drivername not in {"sqlite+aiosqlite", "mysql+aiomysql"}:
            raise ValueError(
                "DATABASE_URL must use sqlite+aiosqlite:// or mysql+aiomysql:// "
                f"(got {url.drivername}://)"
            )
        return value

    @field_validator("redis_url", "celery_broker_url", "celery_result_backend")
    @classmethod
    def _valid_broker_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in {"redis", "rediss", "amqp", "amqps", "pyamqp", "memory", "unix"}:
            raise ValueError(f"malformed URL {value!r}: unknown or missing scheme")
        return value

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def check_production_safety(self) -> None:
        """Refuse to run production on development conveniences (called at start-up)."""
        if not self.is_production:
            return
        problems: list[str] = []
        keyless = self.jwt_private_key is None and self.jwt_private_key_file is None
        if keyless and not isinstance(self, GatewaySettings):  # the gateway only verifies
            problems.append("JWT_PRIVATE_KEY(_FILE) must be set in production")
        if keyless and self.jwt_public_key is None and self.jwt_public_key_file is None:
            problems.append("JWT_PUBLIC_KEY(_FILE) must be set in production")
        if self.is_sqlite:
            problems.append("DATABASE_URL must point at MySQL/MariaDB in production")
        if self.redis_url is None:
            problems.append("REDIS_URL must be set in production")
        if "*" in self.cors_origins:
            problems.append("CORS_ORIGINS must list origins in production, not '*'")
        problems.extend(self._extra_production_problems())
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))

    def _extra_production_problems(self) -> list[str]:
        return []


class CommerceSettings(BaseAppSettings):
    service_name: str = "commerce"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # Run the outbox relay inside this process (on by default; a dedicated relay can be used).
    outbox_relay_enabled: bool = True
    outbox_poll_interval_s: float = 0.1
    order_reservation_ttl_s: int = 15 * 60
    cart_ttl_s: int = 7 * 24 * 3600
    max_body_bytes: int = 1_000_000
    # Rate limits (limits library notation). Per-address limits key on the address nginx
    # forwards; the embedded default is loose enough for local load tests.
    rate_limit_login_per_ip: str = "1000/minute"
    rate_limit_login_per_account: str = "10/minute"
    rate_limit_register_per_ip: str = "1000/minute"
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])


class GatewaySettings(BaseAppSettings):
    service_name: str = "realtime"
    host: str = "127.0.0.1"
    port: int = 8001
    node_id: str | None = None
    # Pub/sub channel of socket.io's Redis manager: nodes of one deployment share it.
    socketio_channel: str = "socketio"
    # Permessage-deflate costs ~36 KB per socket and one compression per client per
    # broadcast (see DESIGN.md); off by default, as in Node's Engine.IO v4.
    websocket_compression: bool = False
    ping_interval_s: int = 20
    ping_timeout_s: int = 20
    presence_ttl_s: int = 15
    chat_history_size: int = 50
    chat_max_chars: int = 200
    chat_rate_limit: str = "5/10 seconds"
    react_rate_limit: str = "20/second"
    reaction_window_ms: int = 300
    chat_batch_window_ms: int = 100
    viewers_broadcast_interval_s: float = 1.0
    resume_max_events: int = 200
    resume_max_age_s: int = 300
    relay_claim_idle_ms: int = 10_000
    banned_words: list[str] = Field(default_factory=list)


class WorkerSettings(CommerceSettings):
    service_name: str = "worker"


S = TypeVar("S", bound=BaseAppSettings)


def load(cls: type[S], **overrides: object) -> S:
    """Build settings or raise ConfigError with one readable line (no traceback wall)."""
    try:
        settings = cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        raise ConfigError(f"bad configuration: {where.upper()}: {first['msg']}") from None
    settings.check_production_safety()
    return settings
