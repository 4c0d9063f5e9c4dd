"""Typed settings, read once per process from the environment (12-factor) and `.env`.

Nothing else in the code base reads `os.environ`: each process builds its settings object in
`__main__` (or the test builds one) and passes it into `create_app(settings)`. One subclass per
process keeps each process's knobs next to each other while sharing the common ones; each
concern (payments, ...) is a model of its own under `shared/config/`, held as a field
(`settings.payments.ecpay.merchant_id`) and read under the same variable names as ever
(`ECPAY_MERCHANT_ID`): `shared/config/composed.py` explains how, and how tests override them.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, ClassVar, Literal, TypeVar

from pydantic import (
    Field,
    NonNegativeInt,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from shared.config.composed import ROOT, VAR_DIR, ComposedSettings
from shared.config.limits import RateLimitSettings
from shared.config.media import MediaSettings
from shared.config.notifications import ChannelSettings, NotificationSettings
from shared.config.orders import OrderSettings
from shared.config.payments import PAYMENT_PROVIDERS, TWOC2P_DEV_MERCHANT_KEY_FILE, PaymentSettings
from shared.config.streams import StreamSettings
from shared.errors import ConfigError

__all__ = [
    "PAYMENT_PROVIDERS", "ROOT", "TWOC2P_DEV_MERCHANT_KEY_FILE", "VAR_DIR", "BaseAppSettings",
    "CommerceSettings", "GatewaySettings", "WorkerSettings", "load",
]

DEFAULT_SQLITE_URL = f"sqlite+aiosqlite:///{VAR_DIR / 'livecommerce.db'}"

AppEnv = Literal["development", "test", "production"]


class BaseAppSettings(ComposedSettings):
    # Whether this process signs tokens (needs the private key) or only verifies them.
    issues_tokens: ClassVar[bool] = True

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
    # Readiness (`/readyz`) also requires Redis to persist with its append-only file: a Redis
    # restart without it forgets room state, revocations and undelivered events at once. On
    # for production deployments whose Redis runs `appendonly yes` (docs/operations.md).
    redis_require_aof: bool = False
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
    # Sentry's release tag (e.g. the image tag); unset: the installed package version.
    release: str | None = None

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
    def _valid_broker_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value in (None, ""):
            return None
        scheme = value.split("://", 1)[0] if "://" in value else ""
        known = {"redis", "rediss", "amqp", "amqps", "pyamqp", "memory", "unix"}
        if info.field_name == "redis_url":
            # `redis+cluster://host:port,host:port`: a Redis Cluster for all data (shared/redis.py)
            known |= {"redis+cluster", "rediss+cluster"}
        if scheme not in known:
            raise ValueError(f"malformed URL {value!r}: unknown or missing scheme")
        if scheme.endswith("+cluster") and not value.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError(f"malformed REDIS_URL {value!r}: no cluster nodes")
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
        if keyless and self.issues_tokens:
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
    # MariaDB read replicas (commerce/replicas.py): comma-separated SQLAlchemy URLs, empty for
    # none. Reads that tolerate lag (catalog and search, stream lists, analytics, the CSV
    # report) go to a healthy replica; writes, transactions, orders, Alembic and the outbox
    # relay always use DATABASE_URL. A replica is healthy while `SHOW REPLICA STATUS` says both
    # threads run and `Seconds_Behind_Master` <= DATABASE_REPLICA_MAX_LAG_S (checked at most
    # every DATABASE_REPLICA_CHECK_INTERVAL_S); a caller who wrote what these reads show
    # (a seller's product, a host's stream) reads from the primary for
    # DATABASE_REPLICA_FRESH_WRITES_S after the write.
    database_replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    database_replica_max_lag_s: float = Field(default=2.0, gt=0)
    database_replica_check_interval_s: float = Field(default=1.0, gt=0, le=60)
    database_replica_connect_timeout_s: float = Field(default=1.0, gt=0)
    # A lag-tolerant read on a replica that has not answered within this is abandoned (its
    # connection dropped, the replica marked down) and run on the primary: a replica that hangs
    # without closing its connections (SIGSTOP, a host gone without a TCP reset).
    database_replica_read_timeout_s: float = Field(default=5.0, gt=0)
    database_replica_pool_size: int = Field(default=10, ge=1)
    database_replica_fresh_writes_s: float = Field(default=5.0, ge=0)

    @field_validator("database_replica_urls", mode="before")
    @classmethod
    def _split_replica_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_replica_urls")
    @classmethod
    def _valid_replica_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            try:
                driver = make_url(url).drivername
            except ArgumentError as exc:
                raise ValueError(f"malformed DATABASE_REPLICA_URLS entry: {exc}") from None
            if driver != "mysql+aiomysql":
                raise ValueError(
                    f"DATABASE_REPLICA_URLS must use mysql+aiomysql:// (got {driver}://)"
                )
        return value

    @model_validator(mode="after")
    def _fresh_window_outlasts_lag(self) -> CommerceSettings:
        """A write must stay on the primary for longer than a healthy replica may trail it
        (the lag bound plus one stale health check), or its author could read it missing."""
        bound = self.database_replica_max_lag_s + self.database_replica_check_interval_s
        if self.database_replica_urls and self.database_replica_fresh_writes_s <= bound:
            raise ValueError(
                "DATABASE_REPLICA_FRESH_WRITES_S must exceed DATABASE_REPLICA_MAX_LAG_S + "
                f"DATABASE_REPLICA_CHECK_INTERVAL_S ({bound:g} s)"
            )
        return self

    # Run the outbox relay inside this process (on by default; a dedicated relay can be used).
    outbox_relay_enabled: bool = True
    outbox_poll_interval_s: float = 0.1
    # Under load, relay passes are at least this far apart, so one pass carries the events of
    # many checkout groups (a pass costs the same few statements whatever it carries); the
    # first event after a quiet spell goes out at once.
    outbox_relay_min_interval_s: float = Field(default=0.05, ge=0, le=1)
    # Published outbox rows the relay publishes again when the event stream lost everything
    # (a Redis restarted without its AOF, or a new one): those of the last this many seconds.
    # A stream that lost only its newest entries gets exactly those back, whatever this says.
    outbox_replay_window_s: float = Field(default=300.0, ge=0)
    # Orders (`ORDER_*`, `MAX_UNPAID_ORDERS_PER_BUYER`).
    orders: OrderSettings = Field(default_factory=OrderSettings)
    cart_ttl_s: int = 7 * 24 * 3600
    # Serve the flash-sale routes (POST /orders) as bare ASGI endpoints (commerce/hot_routes.py)
    # instead of through FastAPI's router; same validation, auth, service and errors.
    hot_routes_enabled: bool = True
    max_body_bytes: int = 1_000_000
    # Request-head limits of the API's HTTP server (commerce/server.py): bytes of the request
    # line plus all headers, the number of headers, and seconds to send the whole head.
    http_max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    http_max_headers: int = Field(default=100, ge=10)
    http_header_timeout_s: float = Field(default=10.0, gt=0)
    # Payment and Cloudflare webhooks are anonymous: their bodies are small (a provider
    # notification is a few KB), so they get a much smaller limit than the default.
    webhook_max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Who may read `GET /metrics` on the API port (others get 404): loopback and the private
    # ranges Prometheus scrapes from (the cluster, Kubernetes pods). Empty: nobody.
    metrics_allowed_networks: list[str] = Field(
        default_factory=lambda: [
            "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
            "fc00::/7",
        ]
    )

    @field_validator("metrics_allowed_networks")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"not an address or network: {network!r}") from None
        return value
    # Rate limits (`RATE_LIMIT_*`, `LOGIN_SLOW_PATH_*`).
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    # Two-factor authentication (TOTP, commerce/auth/twofactor.py). The secrets are encrypted
    # at rest under a key derived from `totp_encryption_key` (production refuses the dev value).
    totp_encryption_key: SecretStr = SecretStr("dev-totp-encryption-key")
    totp_issuer: str = "Live Commerce"
    # The login's second step: its challenge token lives this long and takes this many codes.
    two_factor_challenge_ttl_s: int = Field(default=300, ge=30, le=3600)
    two_factor_max_attempts: int = Field(default=5, ge=1, le=20)
    # bcrypt work factor (2^rounds); 12 is ~0.25 s a hash here. Tests lower it to 4.
    bcrypt_rounds: int = Field(default=12, ge=4, le=31)
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])

    # Payments (commerce/payments): `PAYMENTS_*` and one model per provider (`ECPAY_*`, ...).
    payments: PaymentSettings = Field(default_factory=PaymentSettings)

    def uses_local_sandbox(self, provider: str) -> bool:
        """Whether `provider`'s adapter talks to the in-process sandbox instead of a host."""
        return self.payments.uses_local_sandbox(
            provider, development=self.app_env == "development", production=self.is_production
        )

    # --- Streams (`STREAM_*`, `CLOUDFLARE_*`) and media (`MEDIA_*`, `S3_*`, `FFMPEG_BINARY`).
    streams: StreamSettings = Field(default_factory=StreamSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)

    # --- H5 pages (commerce/web). Where the pages' socket.io client connects: empty is the
    # page's own origin (nginx serves both); `WEB_GATEWAY_PORT` is the page's own host on that
    # port (the embedded default: gateway on :8001, set by `make run`).
    web_gateway_url: str = ""
    web_gateway_port: int | None = Field(default=None, ge=1, le=65535)

    # --- Social login (commerce/auth/social). Every provider is optional: one whose client id
    # (or secret) is unset answers 503 `provider_not_configured`. The URLs are the providers'
    # documented endpoints; tests point them at local fakes.
    social_http_timeout_s: float = Field(default=5.0, gt=0)
    social_jwks_min_ttl_s: int = Field(default=60, ge=0)
    social_jwks_max_ttl_s: int = Field(default=24 * 3600, ge=1)
    # LINE Login channel: the channel id is the ID token's audience (`client_id` of /verify).
    line_channel_id: str | None = None
    line_api_base: str = "https://api.line.me"
    # LINE has no `email_verified` claim; it returns the address the user registered (and
    # confirmed with a code) in LINE. Set false to never link LINE logins by email.
    line_trust_email: bool = True
    # Web, Android and iOS OAuth client ids of one Google project (any may be the audience).
    google_client_ids: list[str] = Field(default_factory=list)
    google_jwks_url: str = "https://www.googleapis.com/oauth2/v3/certs"
    # Services id (web) and bundle ids (apps) of Sign in with Apple.
    apple_client_ids: list[str] = Field(default_factory=list)
    apple_jwks_url: str = "https://appleid.apple.com/auth/keys"
    facebook_app_id: str | None = None
    facebook_app_secret: SecretStr | None = None
    facebook_graph_base: str = "https://graph.facebook.com/v23.0"
    facebook_limited_jwks_url: str = "https://limited.facebook.com/.well-known/oauth/openid/jwks/"
    # Instagram API with Instagram Login (business/creator accounts): app id, secret and the
    # redirect URI registered for Business Login (the code exchange must repeat it).
    instagram_app_id: str | None = None
    instagram_app_secret: SecretStr | None = None
    instagram_redirect_uri: str | None = None
    instagram_oauth_base: str = "https://api.instagram.com"
    instagram_graph_base: str = "https://graph.instagram.com/v23.0"
    # Kapook publishes no login API: any OpenID Connect provider configured here stands in.
    kapook_issuer: str | None = None
    kapook_jwks_url: str | None = None
    kapook_client_id: str | None = None
    kapook_algorithms: list[Literal["RS256", "ES256"]] = ["RS256", "ES256"]
    # Whether Kapook's `email_verified` claim may link accounts by email.
    kapook_trust_email_verified: bool = True

    # --- Notifications (`NOTIFICATIONS_*`, ...) and the channels that deliver them
    # (`EMAIL_*`, `SENDGRID_*`, `SMTP_*`, `TWILIO_*`).
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    channels: ChannelSettings = Field(default_factory=ChannelSettings)
    # Cleanup (beat): rows older than these are deleted.
    retention_outbox_days: int = Field(default=7, ge=1)
    retention_payment_notifications_days: int = Field(default=90, ge=1)
    retention_read_notifications_days: int = Field(default=90, ge=1)
    # Tasks that exhaust their retries are published here with their arguments and last error.
    dead_letter_queue: str = "dead_letter"

    def _extra_production_problems(self) -> list[str]:
        problems: list[str] = self.payments.production_problems()
        problems.extend(self.payments.sandbox_production_problems())
        problems.extend(self.streams.production_problems())
        if self.totp_encryption_key.get_secret_value().startswith("dev-"):
            problems.append("TOTP_ENCRYPTION_KEY must be set (it encrypts 2FA secrets)")
        problems.extend(self.media.production_problems())
        return problems


class GatewaySettings(BaseAppSettings):
    issues_tokens = False  # the gateway only verifies
    service_name: str = "realtime"
    host: str = "127.0.0.1"
    port: int = 8001
    node_id: str | None = None
    # Pub/sub channel of socket.io's Redis manager: nodes of one deployment share it.
    socketio_channel: str = "socketio"
    # Cross-node fan-out when Redis is configured: `sharded` publishes each room's emits on its
    # own sharded pub/sub channel, heard only by nodes with members there
    # (realtime/sharding.py); `single` is python-socketio's one channel every node decodes.
    socketio_manager: Literal["sharded", "single"] = "sharded"
    # The Redis that carries the sharded fan-out, when not REDIS_URL: a Redis 7, or a Redis
    # Cluster as `redis+cluster://host:port,host:port` (any reachable nodes; the rest are
    # discovered), where each room's channel lives on the shard owning its slot.
    socketio_redis_url: str | None = None
    # The gateway's Redis connection pool (shared/redis.py): a caller waits up to the wait for a
    # free connection, so a burst queues instead of failing, and fails after it.
    redis_pool_size: int = Field(default=512, ge=2)
    redis_pool_wait_s: float = Field(default=10.0, gt=0)

    @property
    def join_batch_interval_s(self) -> float:
        return self.join_batch_interval_ms / 1000

    @field_validator("socketio_redis_url")
    @classmethod
    def _valid_fanout_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in {"redis", "rediss", "redis+cluster", "rediss+cluster"}:
            raise ValueError(f"malformed SOCKETIO_REDIS_URL {value!r}: unknown or missing scheme")
        return value

    @model_validator(mode="after")
    def _single_channel_needs_one_redis(self) -> GatewaySettings:
        # python-socketio's own Redis manager speaks to one Redis only.
        if self.socketio_manager == "single" and "+cluster://" in (self.redis_url or ""):
            raise ValueError("SOCKETIO_MANAGER=single needs one Redis, not a redis+cluster:// URL")
        return self
    # Permessage-deflate costs ~36 KB per socket and one compression per client per
    # broadcast (see DESIGN.md); off by default, as in Node's Engine.IO v4.
    websocket_compression: bool = False
    ping_interval_s: float = 20
    ping_timeout_s: float = 20
    # A connection that has joined no namespace this long after its handshake was written is
    # closed (room for a slow mobile network's round trips; Node's default is 45 s).
    connect_timeout_s: float = 10
    # The listening socket's accept queue. A join storm (a push notification: thousands of
    # phones connect within seconds) fills aiohttp's default of 128 while the loop is busy, and
    # the kernel then resets or drops the rest (827 of 10,000 clients refused in BENCHMARKS.md);
    # Node listens with 511. The kernel caps it at net.core.somaxconn (4096 on current kernels).
    listen_backlog: int = Field(default=2048, ge=1)
    # The largest WebSocket message and polling POST body a client may send; advertised to
    # clients as Engine.IO's `maxPayload` (the one limit for both transports).
    socket_max_payload_bytes: int = Field(default=64 * 1024, ge=1024)
    # Per socket and event, for every client event without a limit of its own (join, leave,
    # resume, pin, unpin, moderate; chat and react have theirs below).
    event_rate_limit: str = "20/10 seconds"
    # Bad input (a protocol violation, or an event payload that fails validation) is logged once
    # per connection and counted; past this many within the window the socket is disconnected.
    bad_input_disconnect_after: int = 20
    bad_input_window_s: float = 60
    presence_ttl_s: int = 15
    chat_history_size: int = 50
    chat_max_chars: int = 200
    chat_rate_limit: str = "5/10 seconds"
    react_rate_limit: str = "20/second"
    reaction_window_ms: int = 300
    chat_batch_window_ms: int = 100
    # A room is "busy" once more than this many chat messages arrive within one batch window,
    # or this many of its messages are already being stamped on one node: further messages go
    # out together as one `chat_batch` (realtime/chat.py).
    chat_busy_threshold: int = 5
    max_rooms_per_socket: int = 5
    # The cyclic GC's thresholds (gen0, gen1, gen2) in a gateway process: CPython's (700, 10,
    # 10) ran ~15 full collections in a 10,000-client join storm, 40 % of its CPU; (10000, 10,
    # 100) still spent 1.1-1.5 s of it in 100 young and 10 middle collections
    # (realtime/gctuning.py, BENCHMARKS.md issue 20). JSON: GC_THRESHOLDS=[700,10,10].
    gc_thresholds: tuple[NonNegativeInt, NonNegativeInt, NonNegativeInt] = (100_000, 10, 100)
    # Under a join storm, a node's shared Redis reads (the fresh stream metadata, ban checks,
    # revocation checks) and its presence batches each start at most once per this interval:
    # a round that would follow the previous one at once waits out the rest of it, gathering
    # the joiners that arrive meanwhile (fewer round trips and scripts for the same joins). A
    # read or batch that nothing was already waiting for (a quiet room's join) starts at once.
    # 0: back to back. Two processes' 10,000-client storm on 2 cores, per interval 0 / 5 / 10 /
    # 20 / 40 ms: ~2,430 / 1,600 / 980 / 545 / 315 presence scripts, 0.92-1.03 / 0.81-1.01
    # / 0.77-0.87 / 0.67-0.81 / 0.72-0.77 ms of gateway CPU per client, join ack p50 ~20 / 19 /
    # 20 / 28 / 38 ms (realtime/sharedreads.py; BENCHMARKS.md, session 12).
    join_batch_interval_ms: float = Field(default=20.0, ge=0, le=100)
    viewers_broadcast_interval_s: float = Field(default=1.0, gt=0)
    # Past this many viewers a room's `viewers` interval grows in proportion to its count (a
    # room of 10,000 hears its count every 5 s), up to the max below: each announcement is one
    # write per viewer, so this bounds a big room's cost to about 2,000 writes a second (a join
    # storm into a room paid N writes a second while it lasted). 0: always the base interval.
    viewers_large_room: int = Field(default=2000, ge=0)
    viewers_broadcast_max_interval_s: float = Field(default=10.0, gt=0)
    resume_max_events: int = 200
    resume_max_age_s: int = 300
    relay_claim_idle_ms: int = 10_000
    # One node at a time consumes the event stream (keeps room events in stream order); another
    # takes over this long after the holder stopped renewing.
    relay_lease_ms: int = 5_000
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
        loc = [str(p) for p in first.get("loc", ())]
        # A concern's error comes from its own model: name the variable, not the field.
        model = cls.find_model(exc.title)
        if model is not None and loc and loc[0] in model.model_fields:
            where = ".".join([model.env_name(loc[0]), *loc[1:]])
        else:
            where = ".".join(loc).upper() or "SETTINGS"
        raise ConfigError(f"bad configuration: {where}: {first['msg']}") from None
    settings.check_production_safety()
    return settings
