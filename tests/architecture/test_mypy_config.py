"""`make lint` holds the checkout, inventory and the gateway to `mypy --strict` (issue 19).

`strict` itself is a global option, so pyproject.toml spells out strict's per-module flags for
those packages; this test keeps that list whole, so dropping one flag (or a package) fails here
rather than letting the strictness erode unnoticed. The flags are mypy 2's `--strict` set
(`mypy --help`); the two global ones are set for the whole tree.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STRICT_PACKAGES = ("commerce.orders.*", "commerce.inventory.*", "realtime.*")
STRICT_PER_MODULE = (
    "disallow_any_generics", "disallow_subclassing_any", "disallow_untyped_calls",
    "disallow_untyped_defs", "disallow_incomplete_defs", "disallow_untyped_decorators",
    "warn_return_any", "no_implicit_reexport", "strict_equality", "extra_checks",
)
STRICT_GLOBAL = ("check_untyped_defs", "warn_unused_ignores", "warn_redundant_casts")


def mypy_config() -> dict[str, Any]:
    config: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    return config


def test_lint_checks_the_strict_packages() -> None:
    assert {"commerce", "realtime"} <= set(mypy_config()["packages"])


def test_every_strict_flag_is_on_for_checkout_inventory_and_the_gateway() -> None:
    config = mypy_config()
    assert all(config.get(flag) is True for flag in STRICT_GLOBAL), STRICT_GLOBAL
    for package in STRICT_PACKAGES:
        flags: dict[str, Any] = {}
        for override in config.get("overrides", []):
            modules = override["module"]
            if package in (modules if isinstance(modules, list) else [modules]):
                flags.update(override)
        missing = [flag for flag in STRICT_PER_MODULE if flags.get(flag) is not True]
        assert missing == [], (package, missing)
