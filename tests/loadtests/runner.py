"""Run Locust headless as a subprocess (as CI and people do) and read its CSV statistics."""

from __future__ import annotations

import csv
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.procs import child_env

LOCUSTFILE = Path(__file__).resolve().parents[2] / "loadtests" / "locustfile.py"


@dataclass(frozen=True)
class Stat:
    requests: int
    failures: int


@dataclass
class LocustRun:
    returncode: int
    output: str
    stats: dict[tuple[str, str], Stat]
    failures_csv: str

    def count(self, kind: str, name: str) -> int:
        stat = self.stats.get((kind, name))
        return stat.requests if stat else 0

    def describe(self) -> str:
        return f"exit {self.returncode}\n{self.failures_csv}\n{self.output[-4000:]}"


def run_locust(
    *,
    host: str,
    fixture: Path,
    workdir: Path,
    gateway: str = "",
    users: int = 20,
    spawn_rate: int = 10,
    seconds: int = 10,
    extra: tuple[str, ...] = (),
) -> LocustRun:
    prefix = workdir / "locust"
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "-u", str(users), "-r", str(spawn_rate), "-t", f"{seconds}s", "--only-summary",
        "--exit-code-on-error", "1", "--stop-timeout", "5", "--csv", str(prefix),
        "--host", host, "--fixture", str(fixture), "--gateway", gateway,
        # A busier mix than the default so a 10 s smoke touches every kind of request.
        "--chat-probability", "0.3", "--pin-interval", "2", "--viewer-wait", "0.5",
        "--checkout-ratio", "4", *extra,
    ]
    env = child_env({"PYTHONUNBUFFERED": "1"})
    done = subprocess.run(
        cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=seconds + 60
    )
    stats: dict[tuple[str, str], Stat] = {}
    stats_csv = Path(f"{prefix}_stats.csv")
    if stats_csv.exists():
        with stats_csv.open() as f:
            for row in csv.DictReader(f):
                stats[(row["Type"], row["Name"])] = Stat(
                    int(row["Request Count"]), int(row["Failure Count"])
                )
    failures = Path(f"{prefix}_failures.csv")
    return LocustRun(
        returncode=done.returncode,
        output=done.stdout + done.stderr,
        stats=stats,
        failures_csv=failures.read_text() if failures.exists() else "",
    )


def assert_clean_mixed_run(run: LocustRun) -> None:
    """No failures, and socket acks, deliveries and REST calls all present in the stats."""
    assert run.returncode == 0, run.describe()
    total = run.stats.get(("", "Aggregated"))
    assert total is not None and total.requests > 0, run.describe()
    assert total.failures == 0, run.describe()
    for kind, name in [
        ("WS", "connect"), ("WSC", "join"), ("WSC", "react"), ("WSC", "chat"), ("WSC", "pin"),
        ("WSR", "chat delivered"), ("WSR", "product_pinned"),
        ("GET", "/products"), ("PUT", "/cart/items/{id}"), ("POST", "/orders"),
    ]:
        assert run.count(kind, name) > 0, f"no {kind} {name}\n{run.describe()}"
