"""Structural checks of the Kubernetes manifests (deploy/k8s), without a cluster.

Every YAML file is parsed; the objects must fit together (selectors, ports, probe paths that
the services really serve, HPA targets, Ingress backends, ConfigMap and Secret references),
and the overlay must render with `kubectl kustomize` when kubectl is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from commerce.health import router as health_router
from shared.settings import CommerceSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
REDIS_CLUSTER = K8S / "components" / "redis-cluster"
GATEWAY_APP = ROOT / "realtime" / "app.py"
Obj = dict[str, Any]


def _load(directory: Path) -> list[Obj]:
    docs: list[Obj] = []
    for path in sorted(directory.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


@pytest.fixture(scope="module")
def objects() -> list[Obj]:
    return [d for d in _load(BASE) if d.get("kind") != "Kustomization"]


def _of(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _container(deployment: Obj) -> Obj:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def test_every_file_parses_and_the_kustomizations_list_existing_files() -> None:
    for directory in (BASE, K8S / "overlays" / "production", REDIS_CLUSTER):
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        for entry in kustomization["resources"] + kustomization.get("components", []):
            assert (directory / entry).exists(), (directory, entry)
        for patch in kustomization.get("patches", []):
            assert (directory / patch["path"]).exists(), patch
        for doc in _load(directory):
            assert {"apiVersion", "kind"} <= doc.keys(), doc


def test_selectors_match_pod_labels_and_services_reach_named_ports(objects: list[Obj]) -> None:
    deployments = _of(objects, "Deployment")
    assert set(deployments) == {
        "commerce-api", "realtime-gateway", "celery-worker", "celery-beat", "flower",
        "event-consumer",
    }
    for name, dep in deployments.items():
        selector = dep["spec"]["selector"]["matchLabels"]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), name
        spec = dep["spec"]["template"]["spec"]
        assert spec["terminationGracePeriodSeconds"] > 0, name
        c = _container(dep)
        assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"], name
        assert {"configMapRef": {"name": "livecommerce-config"}} in c["envFrom"], name
    for name, svc in _of(objects, "Service").items():
        selector = svc["spec"]["selector"].items()
        backing = [
            d for d in deployments.values()
            if selector <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(backing) == 1, name
        port_names = {p["name"] for p in _container(backing[0]).get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in port_names, (name, port)


def test_web_pods_listen_where_they_say_and_probe_real_routes(objects: list[Obj]) -> None:
    # The operational routes of the API live on its unprefixed health router.
    api_routes = {getattr(r, "path", "") for r in health_router.routes}
    # Read from the source, not by building the app: create_app installs process-wide
    # socket.io transport settings that would leak into other tests' clients.
    gateway_routes = set(re.findall(r'add_get\("([^"]+)"', GATEWAY_APP.read_text()))
    routes = {"commerce-api": api_routes, "realtime-gateway": gateway_routes}
    deployments = _of(objects, "Deployment")
    for name, served in routes.items():
        c = _container(deployments[name])
        (port,) = c["ports"]
        assert c["command"][c["command"].index("--port") + 1] == str(port["containerPort"])
        assert c["command"][c["command"].index("--host") + 1] == "0.0.0.0"
        # The API's pods stay in their Service through a Redis outage: the checkout sells from
        # the database then, so its readiness asks only whether it can serve (commerce/health.py).
        ready_path = "/readyz?degraded=ok" if name == "commerce-api" else "/readyz"
        assert c["readinessProbe"]["httpGet"]["path"] == ready_path
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert c[probe]["httpGet"]["path"].split("?")[0] in served, (name, probe)
            assert c[probe]["httpGet"]["port"] == port["name"]
        annotations = deployments[name]["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port["containerPort"])
        assert annotations["prometheus.io/path"] in served


def test_one_beat_and_autoscalers_on_existing_deployments(objects: list[Obj]) -> None:
    deployments = _of(objects, "Deployment")
    beat = deployments["celery-beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"] == {"type": "Recreate"}
    assert "beat" in _container(deployments["celery-beat"])["command"]
    hpas = _of(objects, "HorizontalPodAutoscaler")
    assert {"commerce-api", "realtime-gateway"} <= set(hpas)
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in deployments, name
        assert target["name"] != "celery-beat"
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"], name
        assert hpa["spec"]["metrics"], name
    (job,) = _of(objects, "Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "alembic", "upgrade", "head"
    ]


def test_ingress_routes_to_services_with_websocket_settings(objects: list[Obj]) -> None:
    services = _of(objects, "Service")
    ingresses = _of(objects, "Ingress")
    paths: dict[str, Obj] = {}
    for name, ing in ingresses.items():
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                backend = p["backend"]["service"]
                assert backend["name"] in services, (name, backend)
                assert backend["port"]["name"] in {
                    sp["name"] for sp in services[backend["name"]]["spec"]["ports"]
                }
                paths[p["path"]] = ing
    socket = paths["/socket.io"]["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert int(socket[prefix + "proxy-read-timeout"]) >= 3600
    assert int(socket[prefix + "proxy-send-timeout"]) >= 3600
    assert socket[prefix + "upstream-hash-by"] == "$remote_addr"
    assert socket[prefix + "proxy-buffering"] == "off"
    assert paths["/api"]["metadata"]["annotations"][prefix + "proxy-body-size"] == "1m"


def _secret_refs(node: Any) -> list[tuple[str, str]]:
    if isinstance(node, dict):
        if "secretKeyRef" in node:
            return [(node["secretKeyRef"]["name"], node["secretKeyRef"]["key"])]
        return [ref for value in node.values() for ref in _secret_refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _secret_refs(value)]
    return []


def test_secrets_are_references_to_documented_keys_only(objects: list[Obj]) -> None:
    assert not [o for o in objects if o["kind"] == "Secret"], "no inline Secrets in git"
    documented = set(re.findall(r"^\| `([\w-]+)` \| `(\w+)` \|", (K8S / "README.md").read_text(),
                                re.MULTILINE))
    refs = set(_secret_refs(objects))
    assert refs and refs <= documented, refs - documented
    env_names = {e["name"] for o in objects for e in _env(o)}
    assert "JWT_PRIVATE_KEY" not in {
        e["name"] for e in _env(_of(objects, "Deployment")["realtime-gateway"])
    }, "gateways only verify tokens"
    assert {"DATABASE_URL", "REDIS_URL", "SENTRY_DSN"} <= env_names


def _env(obj: Obj) -> list[Obj]:
    if obj["kind"] not in ("Deployment", "Job"):
        return []
    return [e for c in obj["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_production_overlay_renders() -> None:
    done = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / "production")],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rendered = [d for d in yaml.safe_load_all(done.stdout) if d]
    namespaced = [d for d in rendered if d["kind"] != "Namespace"]
    assert all(d["metadata"].get("namespace") == "livecommerce" for d in namespaced)
    images = {
        c["image"] for d in rendered if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {
        "registry.example.com/livecommerce:2026.11.24",
        "registry.example.com/livecommerce-celery:2026.11.24",
    }
    hpa = _of(rendered, "HorizontalPodAutoscaler")["realtime-gateway"]["spec"]
    assert hpa["minReplicas"] == 4 and hpa["metrics"], "the patch keeps the base's metrics"
    config = _of(rendered, "ConfigMap")["livecommerce-config"]["data"]
    assert config["APP_ENV"] == "production" and "*" not in config["CORS_ORIGINS"]
    # The production shape: the fan-out on the Redis Cluster the overlay brings along.
    assert config["SOCKETIO_REDIS_URL"].startswith("redis+cluster://redis-cluster-0.")
    assert _of(rendered, "StatefulSet")["redis-cluster"]["spec"]["replicas"] == 6


def test_api_worker_and_beat_take_optional_read_replicas(objects: list[Obj]) -> None:
    deployments = _of(objects, "Deployment")
    for name in ("commerce-api", "celery-worker", "celery-beat"):
        (replicas,) = [e for e in _env(deployments[name]) if e["name"] == "DATABASE_REPLICA_URLS"]
        ref = replicas["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "livecommerce-secrets", "key": "DATABASE_REPLICA_URLS",
                       "optional": True}, name
    (migrate,) = _of(objects, "Job").values()
    assert "DATABASE_REPLICA_URLS" not in {e["name"] for e in _env(migrate)}  # primary only
    config = _of(objects, "ConfigMap")["livecommerce-config"]["data"]
    settings = CommerceSettings(
        database_replica_urls="mysql+aiomysql://reader:x@replica/lc",  # type: ignore[arg-type]
        **{k.lower(): v for k, v in config.items() if k.startswith("DATABASE_REPLICA_")},
        _env_file=None,
    )  # the ConfigMap's values pass the settings' own rules (the fresh-writes window)
    assert settings.database_replica_fresh_writes_s > settings.database_replica_max_lag_s


def test_the_redis_cluster_component(objects: list[Obj]) -> None:
    parts = [d for d in _load(REDIS_CLUSTER) if d["kind"] not in ("Kustomization", "Component")]
    (sts,) = _of(parts, "StatefulSet").values()
    (svc,) = [s for s in _of(parts, "Service").values() if s["spec"].get("clusterIP") == "None"]
    spec = sts["spec"]
    assert spec["replicas"] == 6 and spec["serviceName"] == svc["metadata"]["name"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert svc["spec"]["selector"].items() <= labels.items()
    container = _container(sts)
    named = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in svc["spec"]["ports"]} <= named == {"redis", "bus"}
    command = " ".join(container["command"])
    for flag in ("--cluster-enabled yes", "--appendonly yes", "--cluster-announce-hostname"):
        assert flag in command
    assert spec["volumeClaimTemplates"][0]["metadata"]["name"] in {
        m["name"] for m in container["volumeMounts"]}
    (job,) = _of(parts, "Job").values()
    create = " ".join(job["spec"]["template"]["spec"]["containers"][0]["command"])
    assert "--cluster-replicas 1" in create and "cluster_state:ok" in create
    # The ConfigMap patch points the fan-out at pods that exist.
    patch = yaml.safe_load((REDIS_CLUSTER / "config.yaml").read_text())
    url = patch["data"]["SOCKETIO_REDIS_URL"]
    assert url.startswith("redis+cluster://")
    pods = {f"{sts['metadata']['name']}-{i}.{svc['metadata']['name']}" for i in range(6)}
    seeds = [part.rsplit(":", 1) for part in url.removeprefix("redis+cluster://").split(",")]
    assert seeds and all(host in pods and port == "6379" for host, port in seeds)
    assert patch["metadata"]["name"] in _of(objects, "ConfigMap")


def test_the_event_consumer_runs_in_its_own_pods(objects: list[Obj]) -> None:
    consumer = _container(_of(objects, "Deployment")["event-consumer"])
    assert consumer["command"] == ["python", "-m", "commerce.consumer"]
    config = _of(objects, "ConfigMap")["livecommerce-config"]["data"]
    assert config["NOTIFICATIONS_CONSUMER_ENABLED"] == "false"  # not in the API pods too
