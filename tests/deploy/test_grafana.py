"""The Grafana dashboard queries only metrics the code defines (or Flower exports)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

import commerce.metrics
import realtime.metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "livecommerce.json"
# Flower 2.x's own exporter (flower/events.py), scraped from Flower's /metrics.
FLOWER = {"flower_events_total", "flower_worker_online"}
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
NAME = re.compile(r"\b((?:gateway|http|outbox|orders|payment|celery|flower|db)_[a-z_]+)\b")


def _defined() -> dict[str, str]:
    """Series name -> metric family, for every metric in our metrics modules."""
    out: dict[str, str] = {}
    for module in (commerce.metrics, realtime.metrics):
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                (family,) = value.describe()
                for suffix in SUFFIXES[family.type]:
                    out[family.name + suffix] = family.name
    return out


def _exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_every_queried_metric_exists() -> None:
    known = set(_defined()) | FLOWER
    used = {name for expr in _exprs() for name in NAME.findall(expr)}
    assert used, "no metric queries found"
    assert used <= known, sorted(used - known)


def test_the_metrics_operations_watch_are_on_the_dashboard() -> None:
    used = {name for expr in _exprs() for name in NAME.findall(expr)}
    families = {_defined()[n] for n in used if n in _defined()}
    unused = set(_defined().values()) - families
    assert not unused, unused


def test_panels_have_unique_ids_and_a_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["templating"]["list"][0]["type"] == "datasource"
