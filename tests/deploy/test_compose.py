"""docker-compose.yml, checked statically (no Docker daemon needed).

The seed's eight containers plus the socket.io gateway, each with what the seed and the
contract ask for, and every file, module and upstream it names present in the repository.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from shared.settings import CommerceSettings
from tests.helpers.procs import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"

SEED_SERVICES = {
    "mysql", "redis", "rabbitmq", "nginx", "api", "celery_worker", "celery_beat", "flower",
}  # fmt: skip
SERVICES = SEED_SERVICES | {"realtime", "consumer"}
# `docker compose --profile cluster` (deploy/compose/cluster.env): the production shape's MySQL
# read replica and six-node Redis Cluster.
REDIS_NODES = {f"redis_node_{n}" for n in range(1, 7)}
CLUSTER_SERVICES = {"mysql_replica", "redis_cluster_init"} | REDIS_NODES
CLUSTER_ENV = REPO_ROOT / "deploy" / "compose" / "cluster.env"
APP_SERVICES = {"api", "realtime", "consumer", "celery_worker", "celery_beat", "flower"}
INFRA = {"mysql", "redis", "rabbitmq"}

PUBLISHED_PORTS = {
    "mysql": [3306],
    "mysql_replica": [3307],
    "redis": [6379],
    "rabbitmq": [5672, 15672],
    "nginx": [80],
    "api": [8000],
    "realtime": [8001],
    "flower": [5555],
}
NAMED_VOLUMES = {
    "mysql": ("mysql_data", "/var/lib/mysql"),
    "mysql_replica": ("mysql_replica_data", "/var/lib/mysql"),
    "redis": ("redis_data", "/data"),
    "rabbitmq": ("rabbitmq_data", "/var/lib/rabbitmq"),
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def command_text(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def host_ports(service: dict[str, Any]) -> list[int]:
    """Published host ports of "[ip:]host:container" entries."""
    ports = []
    for spec in service.get("ports", []):
        parts = str(spec).split(":")
        assert len(parts) >= 2, f"port {spec!r} should name its host port"
        ports.append(int(parts[-2]))
    return ports


def healthcheck_text(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def test_exactly_the_seed_services_plus_the_gateway_and_the_consumer(
    services: dict[str, Any],
) -> None:
    assert {name for name, s in services.items() if "profiles" not in s} == SERVICES


def test_the_cluster_profile_adds_the_replica_and_the_redis_cluster(
    services: dict[str, Any],
) -> None:
    profiled = {name: s["profiles"] for name, s in services.items() if "profiles" in s}
    assert set(profiled) == CLUSTER_SERVICES
    assert all(profiles == ["cluster"] for profiles in profiled.values())


def test_container_names_follow_the_seed(services: dict[str, Any]) -> None:
    for name, service in services.items():
        assert service["container_name"] == f"live_commerce_{name}"


def test_project_name_gives_the_seed_volume_names(compose: dict[str, Any]) -> None:
    # Docker prefixes named volumes with the project: live_commerce_mysql_data and so on.
    assert compose["name"] == "live_commerce"


@pytest.mark.parametrize(("name", "ports"), sorted(PUBLISHED_PORTS.items()))
def test_ports(services: dict[str, Any], name: str, ports: list[int]) -> None:
    assert sorted(host_ports(services[name])) == sorted(ports)


def test_only_nginx_listens_beyond_loopback(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for spec in service.get("ports", []):
            if name == "nginx":
                assert str(spec) == "80:8080"
            else:
                assert str(spec).startswith("127.0.0.1:"), (name, spec)


def test_images(services: dict[str, Any]) -> None:
    assert services["mysql"]["image"] == services["mysql_replica"]["image"] == "mysql:8.0"
    assert services["redis"]["image"].startswith("redis:7")
    assert services["rabbitmq"]["image"].startswith("rabbitmq:3")
    assert services["rabbitmq"]["image"].endswith("-management")
    assert services["nginx"]["image"].startswith("nginx:")


@pytest.mark.parametrize(("name", "volume"), sorted(NAMED_VOLUMES.items()))
def test_persistent_volumes(
    compose: dict[str, Any], services: dict[str, Any], name: str, volume: tuple[str, str]
) -> None:
    assert ":".join(volume) in services[name]["volumes"]
    assert volume[0] in compose["volumes"]


def test_every_named_volume_is_declared(compose: dict[str, Any], services: dict[str, Any]) -> None:
    for service in services.values():
        for spec in service.get("volumes", []):
            source = str(spec).split(":")[0]
            if not source.startswith((".", "/")):
                assert source in compose["volumes"], spec


def test_redis_appends_to_its_aof(services: dict[str, Any]) -> None:
    assert "--appendonly yes" in command_text(services["redis"])


def test_rabbitmq_keeps_its_node_name(services: dict[str, Any]) -> None:
    # Data lives under rabbit@<hostname>; a random container hostname would orphan it.
    assert services["rabbitmq"]["hostname"]


@pytest.mark.parametrize(
    ("name", "probe"),
    [
        ("mysql", "mysqladmin ping"),
        ("redis", "redis-cli ping"),
        ("rabbitmq", "rabbitmq-diagnostics -q ping"),
        ("api", "/readyz"),
        ("realtime", "/readyz"),
        ("nginx", "/healthz"),
    ],
)
def test_healthchecks(services: dict[str, Any], name: str, probe: str) -> None:
    assert probe in healthcheck_text(services[name])


@pytest.mark.parametrize("name", ["api", "realtime"])
def test_app_healthchecks_probe_their_own_port(services: dict[str, Any], name: str) -> None:
    port = re.search(r"--port[ =](\d+)", command_text(services[name]))
    assert port is not None
    assert f"127.0.0.1:{port[1]}/readyz" in healthcheck_text(services[name])


def test_app_services_wait_for_healthy_infrastructure(services: dict[str, Any]) -> None:
    for name in ("api", "consumer", "celery_worker", "celery_beat"):
        depends = services[name]["depends_on"]
        for infra in INFRA:
            assert depends[infra]["condition"] == "service_healthy", (name, infra)
    realtime = services["realtime"]["depends_on"]
    assert realtime["redis"]["condition"] == "service_healthy"
    assert services["flower"]["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    # The worker and the consumer need the schema the api's migrations create.
    assert services["celery_worker"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["consumer"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_the_event_consumer_runs_beside_the_api_not_in_it(services: dict[str, Any]) -> None:
    assert services["api"]["environment"]["NOTIFICATIONS_CONSUMER_ENABLED"] == "false"
    assert command_text(services["consumer"]) == "python -m commerce.consumer"


def test_nginx_starts_after_the_services_it_proxies(services: dict[str, Any]) -> None:
    assert {"api", "realtime"} <= set(services["nginx"]["depends_on"])


def test_dependencies_exist(services: dict[str, Any]) -> None:
    for service in services.values():
        assert set(service.get("depends_on", {})) <= SERVICES | CLUSTER_SERVICES


def test_only_cluster_services_depend_on_cluster_services_or_optionally(
    services: dict[str, Any],
) -> None:
    """Without the profile its services do not exist: a default service may wait for them
    only with `required: false`, or `docker compose up` refuses the file."""
    for name in SERVICES:
        for target, spec in services[name].get("depends_on", {}).items():
            if target in CLUSTER_SERVICES:
                assert spec.get("required") is False, (name, target)


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_build_files_exist(services: dict[str, Any], name: str) -> None:
    build = services[name]["build"]
    context = (REPO_ROOT / build["context"]).resolve()
    assert context == REPO_ROOT
    assert (context / build["dockerfile"]).is_file()


def test_dockerfiles_per_role(services: dict[str, Any]) -> None:
    for name in ("api", "realtime", "consumer"):
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"
    for name in ("celery_worker", "celery_beat", "flower"):
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile.celery"


def test_dockerfiles_copy_what_exists() -> None:
    """Every COPY source in the Dockerfiles is in the repository (and not .dockerignored)."""
    ignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    for dockerfile in (REPO_ROOT / "docker").glob("Dockerfile*"):
        text = dockerfile.read_text()
        assert "python:3.11-slim" in text
        assert "-c constraints.txt" in text
        assert re.search(r"^USER\s+(?!root)\S+", text, re.M), f"{dockerfile.name} runs as root"
        for match in re.finditer(r"^COPY\s+(?!--from)(.+)$", text, re.M):
            *sources, _dest = match[1].split()
            for source in sources:
                if source.startswith("--"):
                    continue
                assert (REPO_ROOT / source).exists(), f"{dockerfile.name}: {source}"
                path = source.rstrip("/")
                assert any(path == a or path.startswith(a + "/") for a in allowed), (
                    f"{source} is excluded by .dockerignore"
                )


def _module_file(module: str) -> Path:
    """Where `module` (e.g. commerce.worker) lives in the repository, run as a module or an app."""
    path = REPO_ROOT.joinpath(*module.split("."))
    for candidate in (path / "__main__.py", path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise AssertionError(f"module {module} is not in the repository")


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_commands_name_modules_that_exist(services: dict[str, Any], name: str) -> None:
    command = command_text(services[name])
    modules = re.findall(r"python -m ([\w.]+)", command) + re.findall(r"-A ([\w.]+)", command)
    assert modules, command
    for module in modules:
        _module_file(module)


def test_command_entry_points(services: dict[str, Any]) -> None:
    assert (REPO_ROOT / "commerce" / "__main__.py").is_file()
    assert (REPO_ROOT / "realtime" / "__main__.py").is_file()
    assert (REPO_ROOT / "commerce" / "worker.py").is_file()
    api = command_text(services["api"])
    assert api.index("alembic upgrade head") < api.index("python -m commerce")
    assert "--host 0.0.0.0 --port 8000" in api
    assert "--host 0.0.0.0 --port 8001" in command_text(services["realtime"])
    worker = command_text(services["celery_worker"])
    assert "-Q celery,payments,media,notifications" in worker
    assert "commerce.worker beat" in command_text(services["celery_beat"])
    assert "--port=5555" in command_text(services["flower"])


def test_alembic_files_ship(services: dict[str, Any]) -> None:
    assert (REPO_ROOT / "alembic.ini").is_file()
    assert (REPO_ROOT / "migrations" / "env.py").is_file()


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_environment(services: dict[str, Any], name: str) -> None:
    env = services[name]["environment"]
    assert set(env) >= {"APP_ENV", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}
    assert env["DATABASE_URL"].startswith("mysql+aiomysql://livecommerce:")
    assert env["DATABASE_URL"].endswith("@mysql:3306/livecommerce")
    assert env["REDIS_URL"] == "${COMPOSE_REDIS_URL:-redis://redis:6379/0}"
    assert env["CELERY_BROKER_URL"].startswith("amqp://")
    assert env["CELERY_BROKER_URL"].endswith("@rabbitmq:5672//")
    assert services[name]["env_file"] == [{"path": ".env", "required": False}]


def test_mysql_credentials_match_the_database_url(services: dict[str, Any]) -> None:
    mysql = services["mysql"]["environment"]
    url = services["api"]["environment"]["DATABASE_URL"]
    assert mysql["MYSQL_DATABASE"] == "livecommerce"
    assert mysql["MYSQL_USER"] == "livecommerce"
    assert f":{mysql['MYSQL_PASSWORD']}@" in url


def test_nginx_mounts_its_config_and_the_compose_upstreams(services: dict[str, Any]) -> None:
    mounts = {}
    for spec in services["nginx"]["volumes"]:
        source, target, *_ = str(spec).split(":")
        assert (REPO_ROOT / source).is_file(), spec
        mounts[target] = source
    assert mounts["/etc/nginx/nginx.conf"] == "./nginx/nginx.conf"
    assert mounts["/etc/nginx/upstreams.conf"] == "./nginx/upstreams.compose.conf"


def _upstreams(path: Path) -> dict[str, list[str]]:
    text = path.read_text()
    return {
        name: re.findall(r"^\s*server\s+(\S+?)[\s;]", body, re.M)
        for name, body in re.findall(r"upstream\s+(\w+)\s*\{([^}]*)\}", text)
    }


def test_upstream_files_define_what_nginx_conf_uses() -> None:
    conf = (REPO_ROOT / "nginx" / "nginx.conf").read_text()
    used = set(re.findall(r"proxy_pass http://(\w+)", conf))
    used |= set(re.findall(r"^\s+\S+\s+(realtime_\w+);", conf, re.M))  # map targets
    local = _upstreams(REPO_ROOT / "nginx" / "upstreams.conf")
    compose = _upstreams(REPO_ROOT / "nginx" / "upstreams.compose.conf")
    assert set(local) == set(compose)
    assert used <= set(local), used - set(local)


def test_upstream_addresses() -> None:
    local = _upstreams(REPO_ROOT / "nginx" / "upstreams.conf")
    assert local["commerce_api"] == ["127.0.0.1:8111", "127.0.0.1:8112"]
    gateway_nodes = ["127.0.0.1:8101", "127.0.0.1:8102", "127.0.0.1:8103"]
    assert local["realtime_polling"] == local["realtime_ws"] == gateway_nodes
    compose = _upstreams(REPO_ROOT / "nginx" / "upstreams.compose.conf")
    assert compose["commerce_api"] == ["api:8000"]
    assert compose["realtime_polling"] == compose["realtime_ws"] == ["realtime:8001"]


def test_polling_upstream_is_sticky() -> None:
    for path in ("upstreams.conf", "upstreams.compose.conf"):
        text = (REPO_ROOT / "nginx" / path).read_text()
        body = re.search(r"upstream realtime_polling\s*\{([^}]*)\}", text)
        assert body is not None
        assert "hash $remote_addr consistent;" in body[1]


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def test_cluster_env_selects_the_profile_and_points_the_services_at_it(
    compose: dict[str, Any], services: dict[str, Any],
) -> None:
    env = _env_file(CLUSTER_ENV)
    assert env["COMPOSE_PROFILES"] == "cluster"
    # The app services take both from the environment (empty without the profile).
    for name in APP_SERVICES:
        app_env = services[name]["environment"]
        assert app_env["DATABASE_REPLICA_URLS"] == "${DATABASE_REPLICA_URLS:-}"
        assert app_env["SOCKETIO_REDIS_URL"] == "${SOCKETIO_REDIS_URL:-}"
    replica = make_url(env["DATABASE_REPLICA_URLS"].replace("${MYSQL_READER_PASSWORD:-reader}",
                                                            "reader"))
    assert replica.drivername == "mysql+aiomysql"
    assert (replica.host, replica.port, replica.database) == ("mysql_replica", 3306,
                                                              "livecommerce")
    assert replica.username == "reader"
    hostnames = {services[n]["hostname"] for n in REDIS_NODES}
    for name in ("SOCKETIO_REDIS_URL", "COMPOSE_REDIS_URL"):  # fan-out and data
        url = env[name]
        assert url.startswith("redis+cluster://")
        seeds = {part.split(":")[0] for part in url.removeprefix("redis+cluster://").split(",")}
        assert seeds and seeds <= hostnames
    # What the env file sets, the settings accept.
    settings = CommerceSettings(database_replica_urls=str(replica.render_as_string(False)),
                                _env_file=None)  # type: ignore[call-arg]
    assert settings.database_replica_urls


def test_the_replica_follows_the_primary_by_gtid(services: dict[str, Any]) -> None:
    primary, replica = command_text(services["mysql"]), command_text(services["mysql_replica"])
    for flag in ("--gtid-mode=ON", "--enforce-gtid-consistency=ON"):
        assert flag in primary and flag in replica
    ids = [re.search(r"--server-id=(\d+)", text) for text in (primary, replica)]
    assert all(ids) and ids[0][1] != ids[1][1]  # type: ignore[index]
    assert services["mysql_replica"]["depends_on"]["mysql"]["condition"] == "service_healthy"
    # Healthy only while replicating, not merely answering.
    assert "SHOW REPLICA STATUS" in healthcheck_text(services["mysql_replica"])
    init = {}
    for name in ("mysql", "mysql_replica"):
        for spec in services[name]["volumes"]:
            source, target, *_ = str(spec).split(":")
            if target.startswith("/docker-entrypoint-initdb.d/"):
                assert (REPO_ROOT / source).is_file(), spec
                init[name] = (REPO_ROOT / source).read_text()
    assert "REPLICATION SLAVE" in init["mysql"] and "'reader'" in init["mysql"]
    follow = init["mysql_replica"]
    assert "SOURCE_HOST='mysql'" in follow and "SOURCE_AUTO_POSITION=1" in follow
    assert "super_read_only = ON" in follow
    # The replica makes no database or user of its own that replication would collide with.
    assert not {"MYSQL_DATABASE", "MYSQL_USER"} & set(services["mysql_replica"]["environment"])


def test_the_redis_cluster_has_six_persistent_nodes_and_is_created_once(
    compose: dict[str, Any], services: dict[str, Any],
) -> None:
    for name in REDIS_NODES:
        node = services[name]
        text = command_text(node)
        assert "--cluster-enabled yes" in text and "--appendonly yes" in text
        assert "--cluster-announce-hostname" in text
        assert node["image"].startswith("redis:7")
        source, target = str(node["volumes"][0]).split(":")
        assert target == "/data" and source in compose["volumes"]
    init = services["redis_cluster_init"]
    script = command_text(init)
    assert "--cluster-replicas 1" in script and "cluster_state:ok" in script
    assert "for n in 1 2 3 4 5 6; do getent hosts redis-node-$$n" in script  # every node
    assert set(init["depends_on"]) == REDIS_NODES
    for name in ("api", "realtime"):
        wait = services[name]["depends_on"]["redis_cluster_init"]
        assert wait["condition"] == "service_completed_successfully"
