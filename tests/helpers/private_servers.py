"""Private servers for fault-injection tests: our own processes, ports and data directories.

The machine's shared MariaDB, Redis and RabbitMQ serve every other test run at the same time,
so a test that kills or restarts a server never touches them: it starts its own here, kills
and restarts that, and the process (group) is always stopped when the test ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import amqp
import amqp.exceptions
import pymysql
import pymysql.cursors
import redis as sync_redis

from tests.helpers.procs import free_port


def _wait_ready(
    answers: Callable[[], bool], popen: subprocess.Popen[bytes], log: Path, began: float,
    timeout: float,
) -> float:
    """Seconds from `began` until `answers()`; the log's end if the server exits first."""
    while time.monotonic() < began + timeout:
        if answers():
            return time.monotonic() - began
        if popen.poll() is not None:
            raise RuntimeError(log.read_text(errors="replace")[-2000:])
        time.sleep(0.02)
    raise TimeoutError(f"{popen.args!r} did not answer within {timeout} s")


class PrivateRedis:
    """A `redis-server` with its own port and directory, persisted as production runs it
    (AOF, `appendfsync everysec`): `kill()` is a crash, `stop()` a clean shutdown, `start()`
    brings the same server back on the same port and data."""

    def __init__(
        self, directory: Path, *, port: int | None = None, appendonly: bool = True
    ) -> None:
        self.appendonly = appendonly
        self.dir = directory
        self.port = port or free_port()
        self.popen: subprocess.Popen[bytes] | None = None
        self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> sync_redis.Redis:
        return sync_redis.Redis(port=self.port, socket_connect_timeout=1)

    def start(self, timeout: float = 10.0) -> float:
        """Start (or restart) the server; returns the seconds until it answered PING."""
        began = time.monotonic()
        with open(self.dir / "redis.log", "ab") as log:
            self.popen = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--dir", str(self.dir), "--appendonly", "yes" if self.appendonly else "no",
                 "--appendfsync", "everysec",
                 "--save", "", "--protected-mode", "no"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return _wait_ready(self._answers, self.popen, self.dir / "redis.log", began, timeout)

    def _answers(self) -> bool:
        with contextlib.suppress(sync_redis.RedisError), self.client() as client:
            return bool(client.ping())
        return False

    def kill(self) -> None:
        """SIGKILL: what is not yet fsynced to the AOF (up to a second) is lost."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: signal.Signals) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        self.popen.wait(10)


@contextlib.contextmanager
def private_redis(directory: Path, *, appendonly: bool = True) -> Iterator[PrivateRedis]:
    server = PrivateRedis(directory, appendonly=appendonly)
    server.start()
    try:
        yield server
    finally:
        server.kill()


class PrivateMariaDB:
    """A `mariadbd` with its own data directory, port and socket (installed with
    `mariadb-install-db`, grant tables skipped: root without a password, test only).
    `kill()` is a crash (InnoDB recovers on the next `start()`). `server_args` add to the
    command line (a replication pair's binary log, server ids, read-only replica)."""

    def __init__(
        self, directory: Path, *, port: int | None = None, server_args: Sequence[str] = ()
    ) -> None:
        self.dir = directory
        self.port = port or free_port()
        self.server_args = list(server_args) or ["--skip-log-bin"]
        self.popen: subprocess.Popen[bytes] | None = None
        self.dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.dir / 'data'}",
             "--auth-root-authentication-method=normal", "--skip-test-db",
             f"--user={os.environ.get('USER') or 'root'}"],
            check=True, capture_output=True,
        )

    def url(self, database: str = "") -> str:
        return f"mysql+aiomysql://root@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        subprocess.run(["mysql", "-uroot", "-h127.0.0.1", f"-P{self.port}", "-e", sql],
                       check=True, capture_output=True)

    def query(self, sql: str, database: str | None = None) -> list[dict[str, Any]]:
        """Rows of one statement, as dicts (a fresh connection each time: the server may have
        been restarted since)."""
        with pymysql.connect(host="127.0.0.1", port=self.port, user="root", database=database,
                             autocommit=True, charset="utf8mb4", connect_timeout=5,
                             cursorclass=pymysql.cursors.DictCursor) as conn, \
                conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def start(self, timeout: float = 30.0) -> float:
        """Start (or restart, after crash recovery) the server; seconds until it answered."""
        began = time.monotonic()
        with open(self.dir / "mariadbd.log", "ab") as log:
            self.popen = subprocess.Popen(
                ["mariadbd", "--no-defaults", f"--datadir={self.dir / 'data'}",
                 f"--port={self.port}", "--bind-address=127.0.0.1",
                 f"--socket={self.dir / 'sock'}", f"--pid-file={self.dir / 'pid'}",
                 "--user=root", "--skip-grant-tables", *self.server_args,
                 "--innodb-buffer-pool-size=64M", "--max-connections=200"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return _wait_ready(self._answers, self.popen, self.dir / "mariadbd.log", began, timeout)

    def _answers(self) -> bool:
        ping = subprocess.run(
            ["mysql", "-uroot", "-h127.0.0.1", f"-P{self.port}", "-e", "SELECT 1"],
            capture_output=True,
        )
        return ping.returncode == 0

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): the server ends its clients' connections, queries in
        flight included, and exits."""
        self._signal(signal.SIGTERM, wait_s=60)

    def freeze(self) -> None:
        """SIGSTOP: the server hangs with every connection open (a host gone silent)."""
        self._signal(signal.SIGSTOP, wait_s=None)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT, wait_s=None)

    def _signal(self, sig: signal.Signals, wait_s: float | None = 10) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        if wait_s is not None:
            self.popen.wait(wait_s)

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@contextlib.contextmanager
def private_mariadb(directory: Path) -> Iterator[PrivateMariaDB]:
    server = PrivateMariaDB(directory)
    server.start()
    try:
        yield server
    finally:
        server.kill()


class ReplicaPair:
    """A private primary and its replica: two `mariadbd`s with GTID replication, as
    production runs a read replica (row-based binary log on the primary, the replica
    read-only and following `MASTER_USE_GTID=slave_pos`, so a restarted replica resumes
    where it stopped).

    `sync()` waits until the replica has applied everything the primary committed so far
    (`MASTER_GTID_WAIT`), which a test calls instead of sleeping."""

    def __init__(self, directory: Path) -> None:
        self.primary = PrivateMariaDB(directory / "primary", server_args=[
            "--server-id=1", "--log-bin=primary-bin", "--binlog-format=ROW",
            "--gtid-strict-mode=1"])
        self.replica = PrivateMariaDB(directory / "replica", server_args=[
            "--server-id=2", "--skip-log-bin", "--read-only=1", "--gtid-strict-mode=1",
            "--relay-log=replica-relay"])

    def start(self) -> None:
        self.primary.start()
        self.replica.start()
        self.replica.execute(
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={self.primary.port}, "
            "MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos, "
            "MASTER_CONNECT_RETRY=1; START SLAVE"
        )
        self.sync()

    def sync(self, timeout: float = 30.0) -> None:
        """Block until the replica has applied the primary's binary log up to now."""
        position = self.primary.query("SELECT @@gtid_binlog_pos AS pos")[0]["pos"]
        if not position:
            return
        waited = self.replica.query(
            f"SELECT MASTER_GTID_WAIT('{position}', {timeout}) AS waited")[0]["waited"]
        if waited != 0:
            raise TimeoutError(
                f"replica did not reach {position} in {timeout} s: {self.status()}")

    def status(self) -> dict[str, Any] | None:
        """The replica's `SHOW SLAVE STATUS` row (None when replication is not set up)."""
        rows = self.replica.query("SHOW SLAVE STATUS")
        return rows[0] if rows else None

    def stop(self) -> None:
        self.replica.kill()
        self.primary.kill()


@contextlib.contextmanager
def replica_pair(directory: Path) -> Iterator[ReplicaPair]:
    pair = ReplicaPair(directory)
    try:
        pair.start()
        yield pair
    finally:
        pair.stop()


RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # not /usr/sbin's: it su's to rabbitmq


def _bindable(port: int) -> bool:
    """Whether a server could listen on `port` now (as Erlang does: SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class PrivateRabbit:
    """A RabbitMQ node of its own: node name, AMQP and distribution ports, Erlang cookie (its
    own HOME), mnesia directory, config and plugins files, so it can neither join nor collide
    with the machine's shared broker (whose /etc/rabbitmq config pins the node name and port
    5672). `kill()` is a crash (SIGKILL of the whole VM); `start()` again boots the same node
    on the same ports and mnesia directory: durable queues and persistent messages come back.

    A boot takes seconds on a quiet machine and about 30 s on this one under load, so
    `launch()` starts it without waiting and `wait_ready()` waits for an AMQP handshake."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"lcfault{self.port}@localhost"
        self.popen: subprocess.Popen[bytes] | None = None
        self._launched_at = 0.0
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "rabbitmq.conf").write_text("")  # not /etc's: it listens on 5672
        (self.dir / "rabbitmq-env.conf").write_text("")  # not /etc's: it names the node
        (self.dir / "enabled_plugins").write_text("[].\n")  # no management listener

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict[str, str]:
        d = self.dir
        return {
            **os.environ,
            "HOME": str(d),  # the Erlang cookie: $HOME/.erlang.cookie, made on the first boot
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(d / "pid"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq"),  # .conf appended
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),  # absent: none
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
        }

    def launch(self) -> None:
        """Start the node (or start it again after `kill()`) without waiting for it."""
        deadline = time.monotonic() + 30
        while not (_bindable(self.port) and _bindable(self.dist_port)):  # the old VM's sockets
            if time.monotonic() > deadline:
                raise TimeoutError(f"ports {self.port}/{self.dist_port} still taken")
            time.sleep(0.05)
        self._launched_at = time.monotonic()
        with open(self.dir / "rabbitmq-server.log", "ab") as log:
            self.popen = subprocess.Popen(
                [RABBITMQ_SERVER], env=self._env(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Seconds from `launch()` until the node completed an AMQP handshake."""
        assert self.popen is not None, "launch() first"
        return _wait_ready(self._answers, self.popen, self.dir / "rabbitmq-server.log",
                           self._launched_at, timeout)

    def start(self, timeout: float = 120.0) -> float:
        """Start (or restart) the node; returns the seconds until it took an AMQP connection."""
        self.launch()
        return self.wait_ready(timeout)

    def _answers(self) -> bool:
        try:
            with amqp.Connection(f"127.0.0.1:{self.port}", connect_timeout=1) as conn:
                return bool(conn.connected)
        except (OSError, amqp.exceptions.AMQPError):
            return False

    def queue_depth(self, queue: str) -> tuple[int, int]:
        """(messages ready, consumers) of a durable queue, from a passive declare."""
        with amqp.Connection(f"127.0.0.1:{self.port}", connect_timeout=2) as conn:
            declared = conn.channel().queue_declare(queue, passive=True)
            return int(declared.message_count), int(declared.consumer_count)

    def kill(self) -> None:
        """SIGKILL the VM (and the boot script's process group)."""
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)


@contextlib.contextmanager
def private_rabbit(directory: Path, *, wait: bool = True) -> Iterator[PrivateRabbit]:
    """A private RabbitMQ node, killed when the block ends. `wait=False`: yielded while it
    boots (call `wait_ready()` before using it)."""
    server = PrivateRabbit(directory)
    try:
        server.launch()
        if wait:
            server.wait_ready()
        yield server
    finally:
        server.kill()
