"""Node.js for tests: the locked npm packages of tests/js, installed once when missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS_DIR = Path(__file__).resolve().parents[1] / "js"


def node_with_modules(*packages: str) -> str:
    """The `node` executable, after `npm ci` in tests/js if any of `packages` is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js 20+ and npm are needed (CI installs them: .ci/run)")
    if not all((JS_DIR / "node_modules" / p).is_dir() for p in packages):
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True,
                       capture_output=True, timeout=180)
    return node
