"""The import graph of `shared/`, `commerce/` and `realtime/`: no cycles, and the layers of
DESIGN.md (shared <- commerce, realtime; inventory <- catalog, orders <- payments, streams).

A small AST walk, so every import counts: module-level, inside functions and under
`TYPE_CHECKING` (a cycle hidden there is still a cycle in the design). `from a import b`
counts as importing `a.b` when that is a module, else `a`.

Data models (`commerce.<domain>.models`) are the bottom layer of commerce (they import only
`commerce.db` and each other): any domain may read another's tables through them, as the
checkout reads products and streams, so they do not count as an arrow between domains.
`commerce.deps` (FastAPI's dependencies) is the top, beside the routes that alone use it: it may
resolve any domain's caller or object, so arrows into it do not count either.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "commerce", "realtime")
Graph = Mapping[str, set[str]]
EDGE = {"commerce.deps"}


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _owner(name: str) -> str | None:
    """The module of ours that `name` (a module or a name in one) belongs to."""
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str, path: Path) -> Iterable[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


@cache
def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in modules().items():
        for name in _imported(module, path):
            owner = _owner(name)
            if owner is not None and owner != module:
                edges[module].add(owner)
    return dict(edges)


def cycles(edges: Graph) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in edges.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def domain(module: str) -> str:
    """`commerce.orders.checkout.flow` -> `commerce.orders`; `shared.bus` -> `shared.bus`."""
    return ".".join(module.split(".")[:2])


def domain_graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph().items():
        for target in targets:
            if (
                domain(target) != domain(module)
                and not target.endswith(".models")
                and target not in EDGE
            ):
                edges[domain(module)].add(domain(target))
    return dict(edges)


def arrows(source: str, target: str) -> list[str]:
    """Imports from modules under `source` to modules under `target`, models aside."""
    return sorted(
        f"{module} -> {imported}"
        for module, targets in graph().items()
        if module == source or module.startswith(source + ".")
        for imported in targets
        if (imported == target or imported.startswith(target + "."))
        and not imported.endswith(".models")
    )


def test_the_walk_sees_imports_inside_functions_and_type_checking() -> None:
    edges = cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert edges == [["a", "b", "c"]]
    assert "commerce.context" in graph()["commerce.app"]  # a plain module-level import
    assert len(modules()) > 100


def test_no_module_import_cycles() -> None:
    assert cycles(graph()) == []


def test_no_cycles_between_domains() -> None:
    assert cycles(domain_graph()) == []


def test_only_the_http_edge_uses_the_fastapi_dependencies() -> None:
    """Routes and their resource loaders (web modules: they import FastAPI or Starlette)."""
    users = sorted(m for m, targets in graph().items() if EDGE & targets)
    assert "commerce.orders.router" in users
    web = {
        m for m in users
        if any(n.split(".")[0] in ("fastapi", "starlette") for n in _imported(m, modules()[m]))
    }
    assert [m for m in users if m not in web] == []


def test_shared_imports_neither_service() -> None:
    assert arrows("shared", "commerce") == []
    assert arrows("shared", "realtime") == []


def test_commerce_and_realtime_stand_side_by_side() -> None:
    assert arrows("commerce", "realtime") == []
    assert arrows("realtime", "commerce") == []


def test_inventory_is_below_catalog_and_orders() -> None:
    for above in ("catalog", "orders", "carts", "payments", "streams", "media", "auth"):
        assert arrows("commerce.inventory", f"commerce.{above}") == []


def test_catalog_and_orders_do_not_reach_up() -> None:
    for upper in ("payments", "streams", "media"):
        assert arrows("commerce.catalog", f"commerce.{upper}") == []
        assert arrows("commerce.orders", f"commerce.{upper}") == []
    assert arrows("commerce.catalog", "commerce.orders") == []


def test_models_import_only_models_and_the_database() -> None:
    allowed = {"commerce.db", "commerce.models"}
    for module, targets in graph().items():
        # (`commerce.models` itself gathers every table for Alembic.)
        if module.endswith(".models") and module.startswith("commerce.") and module != (
            "commerce.models"
        ):
            assert {
                t for t in targets
                if t.startswith("commerce.") and t not in allowed and not t.endswith(".models")
            } == set(), module


def test_the_sandboxes_speak_the_wire_formats_without_importing_payments() -> None:
    """The wire helpers sit below both: adapters and sandboxes import them, not each other's."""
    assert arrows("commerce.sandbox", "commerce.payments") == []
    assert arrows("commerce.payment_wire", "commerce.payments") == []
    assert arrows("commerce.payment_wire", "commerce.sandbox") == []


def test_analytics_and_notifications_follow_events_side_by_side() -> None:
    """The app's event consumer calls both; only the daily report (analytics) sends through
    notifications."""
    assert arrows("commerce.notifications", "commerce.analytics") == []
