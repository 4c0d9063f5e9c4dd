"""Run the project's services as real subprocesses in tests.

Tests that need a live server (nginx in front of the services, several gateway nodes, Celery
workers) start it with `spawn()`, which

- runs it in its own process group, so stopping it also stops whatever it forked (uvicorn or
  nginx workers, Celery pool processes), and always stops it when the `with` block ends;
- sends stdout and stderr to one log file, readable while the process runs (`Proc.log()`);
- prints the end of that log when an exception leaves the block, so a failing start shows why.

`wait_http()` polls a URL until it answers, failing early with the log when the process has
died. For failures in a test body while a fixture holds the process, tests/conftest.py wires
`add_logs_to_report` into `pytest_runtest_makereport`, so the logs of every process still
running appear in the failure report.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.tls import client_tls

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_TAIL_CHARS = 8000

# Processes started by spawn() and not yet stopped, oldest first.
_running: list[Proc] = []


class ProcessDied(RuntimeError):
    """A spawned process exited while it was expected to run."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks; a race is possible but rare)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def child_env(overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """This process's environment with `overrides` applied; a value of None removes the key."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@dataclass
class Proc:
    name: str
    cmd: list[str]
    popen: subprocess.Popen[bytes]
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        """Everything the process has written so far (stdout and stderr interleaved)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        text = self.log()
        return text if len(text) <= chars else "...\n" + text[-chars:]

    def describe(self) -> str:
        state = "running" if self.alive() else f"exited with {self.returncode}"
        return (
            f"--- {self.name} (pid {self.pid}, {state}): {' '.join(self.cmd)}\n"
            f"--- log {self.log_path}:\n{self.log_tail()}"
        )

    def check_alive(self) -> None:
        if not self.alive():
            raise ProcessDied(f"{self.name} exited unexpectedly\n{self.describe()}")

    def terminate(self) -> None:
        """SIGTERM the whole process group without waiting (see `stop`, `stop_all`)."""
        if not self._stopped:
            _signal_group(self.popen.pid, signal.SIGTERM)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left after `timeout`."""
        if self._stopped:
            return
        self._stopped = True
        if self in _running:
            _running.remove(self)
        _signal_group(self.popen.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout)
        # The leader may be gone while children it forked are not: kill the group regardless.
        _signal_group(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)


def stop_all(*procs: Proc, timeout: float = 10.0) -> None:
    """Stop several processes in parallel: all get SIGTERM first, then each is waited for."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.stop(timeout)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@contextlib.contextmanager
def spawn(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    name: str,
    env: Mapping[str, str | None] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    stop_timeout: float = 10.0,
) -> Iterator[Proc]:
    """Start `cmd` and yield a `Proc`; it is stopped (with its children) when the block ends.

    `env` is applied over this process's environment (None removes a variable), `cwd` defaults
    to the repository root, and the log goes to `<log_dir>/<name>.log` (a temporary directory
    unless given).
    """
    argv = [os.fspath(part) for part in cmd]
    directory = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="proc-"))
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / f"{name}.log"
    # Append mode: a child that reopens /dev/stdout (nginx does) must not overwrite the file.
    with open(log_path, "ab") as log_file:
        popen = subprocess.Popen(
            argv,
            cwd=os.fspath(cwd) if cwd is not None else REPO_ROOT,
            env=child_env(env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc = Proc(name=name, cmd=argv, popen=popen, log_path=log_path)
    _running.append(proc)
    try:
        yield proc
    except BaseException:
        sys.stderr.write(proc.describe() + "\n")
        raise
    finally:
        proc.stop(stop_timeout)


def running() -> list[Proc]:
    """Processes spawned and not yet stopped."""
    return list(_running)


def add_logs_to_report(report: object) -> None:
    """Attach the logs of still-running spawned processes to a failed pytest report.

    Use from a conftest:

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_makereport(item, call):
            outcome = yield
            add_logs_to_report(outcome.get_result())
    """
    if not getattr(report, "failed", False):
        return
    sections = getattr(report, "sections", None)
    if sections is None:
        return
    for proc in _running:
        sections.append((f"log of {proc.name}", proc.describe()))


def wait_http(
    url: str,
    *,
    proc: Proc | None = None,
    timeout: float = 30.0,
    status: int | None = 200,
) -> httpx.Response:
    """Poll `url` until it answers (with `status`, unless None); fail early if `proc` died."""
    deadline = time.monotonic() + timeout
    last: str = "no attempt"
    # The shared TLS context: a client of its own loads the CA bundle, ~60 ms per server start.
    with httpx.Client(timeout=2.0, verify=client_tls()) as client:
        while True:
            if proc is not None:
                proc.check_alive()
            try:
                response = client.get(url)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if status is None or response.status_code == status:
                    return response
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            if time.monotonic() > deadline:
                details = f"\n{proc.describe()}" if proc is not None else ""
                raise TimeoutError(f"{url} not ready after {timeout:.0f}s ({last}){details}")
            time.sleep(0.1)


def run_checked(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str | None] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """Run a short command to completion; raise with its output if it fails."""
    argv = [os.fspath(part) for part in cmd]
    result = subprocess.run(
        argv,
        cwd=os.fspath(cwd) if cwd is not None else REPO_ROOT,
        env=child_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited with {result.returncode}:\n{result.stdout[-LOG_TAIL_CHARS:]}"
        )
    return result


# Variables that would switch the embedded default to real servers: removed for `make run`.
EMBEDDED_SERVER_VARS = (
    "REDIS_URL", "CELERY_BROKER_URL", "JWT_PRIVATE_KEY", "JWT_PUBLIC_KEY", "APP_ENV",
)


@dataclass(frozen=True)
class Embedded:
    proc: Proc
    api: str
    gateway: str


@contextlib.contextmanager
def embedded_platform(database_url: str, **env: str) -> Iterator[Embedded]:
    """`make run`'s process (`devserver.py`) on the embedded default, with its own SQLite file
    and free ports, once both services answer `health`; stopped when the block ends."""
    api_port, gw_port = free_port(), free_port()
    overrides: dict[str, str | None] = {v: None for v in EMBEDDED_SERVER_VARS}
    overrides.update(env, DATABASE_URL=database_url)
    with spawn(
        [sys.executable, "devserver.py", "--api-port", str(api_port),
         "--gateway-port", str(gw_port)],
        name="embedded",
        env=overrides,
    ) as proc:
        api, gateway = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{gw_port}"
        wait_http(f"{api}/healthz", proc=proc, timeout=60)
        wait_http(f"{gateway}/healthz", proc=proc, timeout=30)
        yield Embedded(proc, api, gateway)
