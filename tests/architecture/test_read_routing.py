"""What may read from a replica (commerce/replicas.py): only the reads docs/operations.md lists.

A replica's session on a route that writes would send the write to a read-only server, or act
on a stale row; an order page on a replica could miss the order just placed. So the routes
whose dependencies include a read session are exactly the listed GETs, and the only code that
opens one outside FastAPI's dependencies is the listed analytics and reports.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from commerce.app import create_app
from commerce.deps import get_reader
from shared.settings import CommerceSettings

ROOT = Path(__file__).resolve().parents[2]
READ_DEPENDENCIES: set[Callable[..., Any]] = {get_reader}
REPLICA_ROUTES = {  # GET /products, /products/{id}, /streams, /streams/{id}
    ("GET", "commerce.catalog.router.list_products"),
    ("GET", "commerce.catalog.router.get_product"),
    ("GET", "commerce.streams.router.list_streams"),
    ("GET", "commerce.streams.router.get_stream"),
}
# Services that read through `ctx.reads.read` / `.snapshot` themselves.
REPLICA_READERS = {
    "commerce/analytics/service.py",  # a stream's live numbers (the frozen ones: primary)
    "commerce/analytics/report.py",  # the seller's CSV
    "commerce/analytics/daily_report.py",  # yesterday's numbers
    "commerce/deps.py",  # the dependencies above
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every `APIRoute`, also inside included routers (FastAPI keeps those as their own
    route objects holding the original router)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (inner := getattr(route, "original_router", None)) is not None:
            yield from _api_routes(inner.routes)


def test_only_the_listed_get_routes_read_from_replicas() -> None:
    app = create_app(CommerceSettings(app_env="test", _env_file=None))  # type: ignore[call-arg]
    routes = list(_api_routes(app.routes))
    assert len(routes) > 50  # the walk found the API
    reading = {
        (method, f"{route.endpoint.__module__}.{route.endpoint.__name__}")
        for route in routes
        if READ_DEPENDENCIES & set(_calls(route.dependant))
        for method in route.methods
    }
    assert reading == REPLICA_ROUTES


def test_only_the_listed_services_open_read_sessions() -> None:
    opening = {
        str(path.relative_to(ROOT))
        for package in ("commerce", "shared")
        for path in (ROOT / package).rglob("*.py")
        if path.name != "replicas.py"
        and re.search(r"\breads\.(read|snapshot)\(", path.read_text())
    }
    assert opening == REPLICA_READERS
