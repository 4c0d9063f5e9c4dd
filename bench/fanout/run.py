"""Run the fan-out benchmark (issue 4) against our gateway and the Node reference, one session.

For every server configuration - the Node socket.io 4.8 reference (`node`) and our gateway with
P processes on one Redis (`gateway`, once per value of --procs) - this starts the server(s),
runs idle.js with --idle connections while reading the servers' VmRSS, then loadgen.js once
per (receivers, chatters) pair on a fresh stream, stops the servers, and finally prints
every result as a markdown table (and appends the raw JSON lines to --out). `--joinstorm N`
adds a join storm of N clients per server (bench/fanout/stormgen, the Go generator, by default;
`--joinstorm-loadgen js` for joinstorm.js), run under SCHED_BATCH (`--joinstorm-sched`) so that
on a shared machine its wake-ups do not preempt the servers it measures.

    .venv/bin/python bench/fanout/run.py --servers node,gateway --procs 1,2 \\
        --receivers 1000 --chatters 50,100 --duration 30 --warmup 5 --idle 10000 \\
        --redis-url redis://127.0.0.1:6379/0 --out var/bench-fanout/results.jsonl

Numbers only mean something on a quiet machine: the run records the load average at start and
says so when it is high. `--profile` records a py-spy flame graph of every gateway process
during each load run (or by hand: `py-spy record -o profile.svg --pid <gateway pid>`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from make_tokens import DEFAULT_OUT, mint_tokens, publish_stream

from shared.settings import ROOT

HERE = Path(__file__).resolve().parent
BUSY_LOAD = 0.5  # 1-minute load average above which the machine is not quiet
# `--pin-loadgen CPU`: command prefixes (`taskset -c ...`) that keep the load generator on its
# own CPU and every server under test (Node's or the gateways, all of them) on the others.
PIN: dict[str, list[str]] = {"server": [], "loadgen": []}
# `--joinstorm-sched`: the storm generator's scheduling policy, as a command prefix. Under
# SCHED_BATCH the kernel treats it as a batch job: its wake-ups do not preempt the process
# running on that CPU (a server under test), and the CPU is still all the generator's whenever
# the servers wait. Why it matters on a shared 2-core box: parse_args' help, and BENCHMARKS.md
# "Session 11's end".
SCHED: dict[str, list[str]] = {"batch": ["chrt", "--batch", "0"], "normal": []}


@dataclass
class Server:
    """One configuration under test: its processes, URLs and what loadgen needs to use it."""

    kind: str  # "node" or "gateway"
    procs: list[subprocess.Popen[bytes]]
    urls: list[str]
    token_file: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    @property
    def name(self) -> str:
        return "node reference" if self.kind == "node" else f"gateway x{len(self.procs)}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_fd_limit() -> int:
    """`ulimit -n` up to the hard limit, inherited by the servers and clients started here."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds the process has used so far (/proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far."""
    return sum(cpu_times(pid))


def proc_counters(pid: int) -> tuple[float, float, int, int]:
    """The process's user and system CPU seconds so far, and its voluntary and involuntary
    context switches (/proc/<pid>/status): a server preempted thousands of times a second by a
    co-located load generator pays for it in cache misses, which shows as more user time per
    client."""
    switches = {
        name: int(value)
        for name, _, value in (
            line.partition(":\t") for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        )
        if name in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")
    }
    return (*cpu_times(pid),
            switches["voluntary_ctxt_switches"], switches["nonvoluntary_ctxt_switches"])


def counters_since(pids: list[int], before: list[tuple[float, float, int, int]]) -> dict:
    """What `pids` used since `before` (their `proc_counters` then), summed over the processes
    (CPU seconds unrounded)."""
    now = [proc_counters(pid) for pid in pids]
    total = [sum(n[i] - b[i] for n, b in zip(now, before, strict=True)) for i in range(4)]
    return {"user_s": total[0], "system_s": total[1],
            "voluntary_switches": total[2], "involuntary_switches": total[3]}


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def start(cmd: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            PIN["server"] + cmd,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


def wait_healthy(server: Server, logs: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    for proc, url in zip(server.procs, server.urls, strict=True):
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited ({proc.returncode}); see logs in {logs}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not healthy after {timeout:.0f}s; see logs in {logs}")
            time.sleep(0.2)


@contextlib.contextmanager
def node_reference(logs: Path) -> Iterator[Server]:
    port = free_port()
    proc = start(
        ["node", str(HERE / "reference-server.js"), str(port)], env={}, log=logs / "node.log"
    )
    server = Server("node", [proc], [f"http://127.0.0.1:{port}"])
    try:
        wait_healthy(server, logs)
        yield server
    finally:
        stop(server.procs)


@contextlib.contextmanager
def gateway(args: argparse.Namespace, procs: int, logs: Path) -> Iterator[Server]:
    """`procs` gateway nodes on one Redis, isolated from any other gateway using that Redis:
    their own socket.io pub/sub channel (channels ignore the DB number) and event stream."""
    auth = mint_tokens(out_dir=args.keys_dir, count=max(args.chatters, default=1), ttl_s=3600)
    run_id = uuid.uuid4().hex[:8]
    env = {
        "REDIS_URL": args.redis_url,
        "SOCKETIO_CHANNEL": f"bench-fanout-{run_id}",
        "EVENTS_STREAM": f"bench-fanout-events-{run_id}",
        "CHAT_RATE_LIMIT": args.chat_rate_limit,
        "LOG_LEVEL": "WARNING",
        **auth.gateway_env(),
    }
    ports = [free_port() for _ in range(procs)]
    started = [
        start(
            [sys.executable, "-m", "realtime", "--port", str(port), "--node-id", f"bench-{i}"],
            env=env,
            log=logs / f"gateway-{len(ports)}-{i}.log",
        )
        for i, port in enumerate(ports)
    ]
    server = Server(
        "gateway",
        started,
        [f"http://127.0.0.1:{port}" for port in ports],
        token_file=auth.token_file,
        extra={"chat_rate_limit": args.chat_rate_limit},
    )
    try:
        wait_healthy(server, logs)
        pids = " ".join(str(pid) for pid in server.pids)
        print(f"# {server.name} pids {pids}: profile with `py-spy record -o profile.svg --pid PID`")
        yield server
    finally:
        stop(server.procs)


def new_stream(args: argparse.Namespace, server: Server) -> int:
    """A fresh stream per load run: no chat history, seq or rate-limit window carried over."""
    stream_id = int(time.time() * 1000) % 2**31
    if server.kind == "gateway":
        asyncio.run(publish_stream(redis_url=args.redis_url, stream_id=stream_id))
    return stream_id


def profile(args: argparse.Namespace, server: Server, label: str) -> list[subprocess.Popen[bytes]]:
    if not (args.profile and server.kind == "gateway"):
        return []
    # From before the receivers connect to past the window's end (connecting 1,000 takes ~5 s).
    seconds = str(int(args.warmup + args.duration + 15))
    beside = Path(sys.executable).parent / "py-spy"  # the dev extra installs it into the venv
    py_spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if py_spy is None:
        sys.exit("error: --profile needs py-spy (pip install py-spy)")
    suffix = "svg" if args.profile_format == "flamegraph" else "txt"
    return [
        start(
            [
                py_spy,
                "record",
                "-f",
                args.profile_format,
                "-o",
                str(args.out_dir / f"profile-{label}-{pid}.{suffix}"),
                "--pid",
                str(pid),
                "--duration",
                seconds,
            ],
            env={},
            log=args.out_dir / "py-spy.log",
        )
        for pid in server.pids
    ]


def load_run(args: argparse.Namespace, server: Server, receivers: int, chatters: int) -> dict:
    label = f"{server.kind}{len(server.procs)}-r{receivers}-c{chatters}"
    cmd = ["node", str(HERE / "loadgen.js"), "--label", label]
    cmd += [arg for url in server.urls for arg in ("--url", url)]
    cmd += [arg for pid in server.pids for arg in ("--server-pid", str(pid))]
    cmd += ["--receivers", str(receivers), "--chatters", str(chatters)]
    cmd += ["--rate", str(args.rate), "--duration", str(args.duration)]
    cmd += ["--warmup", str(args.warmup), "--workers", str(args.workers)]
    cmd += ["--client", args.client, "--stream-id", str(new_stream(args, server))]
    if server.token_file is not None:
        cmd += ["--token-file", str(server.token_file)]
    print(f"$ {' '.join(cmd)}", flush=True)
    profilers = profile(args, server, label)
    done = subprocess.run(PIN["loadgen"] + cmd, capture_output=True, text=True, check=False)
    for p in profilers:
        p.wait()
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(kind="load", server=server.name, procs=len(server.procs), **server.extra)
    return result


def idle_run(args: argparse.Namespace, server: Server) -> dict:
    before = sum(rss_kb(pid) for pid in server.pids)
    cmd = ["node", str(HERE / "idle.js"), "--connections", str(args.idle)]
    cmd += [arg for url in server.urls for arg in ("--url", url)]
    if args.idle_join:
        cmd += ["--stream-id", str(new_stream(args, server))]
    print(f"$ {' '.join(cmd)}", flush=True)
    proc = subprocess.Popen(PIN["loadgen"] + cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        time.sleep(args.idle_settle)
        after = sum(rss_kb(pid) for pid in server.pids)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    connected = int(ready["connected"])
    return {
        "kind": "idle",
        "server": server.name,
        "procs": len(server.procs),
        "connections": args.idle,
        "joined_room": args.idle_join,
        "connected": connected,
        "failed": ready["failed"],
        "connect_s": ready["connect_s"],
        "rss_before_kb": before,
        "rss_after_kb": after,
        "kb_per_connection": round((after - before) / connected, 1) if connected else None,
    }


def stormgen() -> Path:
    """The Go join-storm generator (bench/fanout/stormgen), built when missing or stale by
    scripts/build_stormgen.sh - before any storm, so its build is not counted as load
    generator CPU."""
    subprocess.run(["bash", str(ROOT / "scripts" / "build_stormgen.sh")], check=True)
    binary = ROOT / "var" / "bin" / "stormgen"
    if not binary.exists():
        sys.exit("error: --joinstorm-loadgen go needs Go (apt-get install golang-go); "
                 "or use --joinstorm-loadgen js")
    return binary


def joinstorm_run(args: argparse.Namespace, server: Server, clients: int, loadgen: str) -> dict:
    """N clients connect and join one fresh room at once: joinstorm.js (`loadgen` js) or its Go
    twin (go: the same protocol work per client at a fraction of the CPU)."""
    if loadgen == "go":
        cmd = [str(args.stormgen), "--clients", str(clients)]
    else:
        cmd = ["node", str(HERE / "joinstorm.js"), "--clients", str(clients)]
    cmd += [arg for url in server.urls for arg in ("--url", url)]
    cmd += ["--stream-id", str(new_stream(args, server))]
    if args.joinstorm_concurrency:
        cmd += ["--concurrency", str(args.joinstorm_concurrency)]
    if args.joinstorm_signed_in:
        # One user per client, signed by the keys the gateway verifies with (Node's reference
        # server reads the user from the token without verifying it).
        auth = mint_tokens(out_dir=args.keys_dir, count=clients, ttl_s=3600,
                           file_name=f"joinstorm-tokens-{clients}.json")
        cmd += ["--token-file", str(auth.token_file)]
    print(f"$ {' '.join(cmd)}", flush=True)
    label = f"{server.kind}{len(server.procs)}-joinstorm{clients}-{loadgen}"
    profilers = profile(args, server, label)
    counters_before = [proc_counters(pid) for pid in server.pids]
    gen_before = children_cpu_s()
    done = subprocess.run(PIN["loadgen"] + SCHED[args.joinstorm_sched] + cmd,
                          capture_output=True, text=True, check=False)
    # The load generator's own CPU (a waited-for child): on 2 cores it shares the machine with
    # the servers, so when it needs a whole core the storm measures it too.
    loadgen_cpu = children_cpu_s() - gen_before
    # The servers' CPU time for the whole storm (connects, joins, and the clients' close at the
    # end): less load-dependent than the wall-clock figures on a shared machine.
    counters = counters_since(server.pids, counters_before)
    server_cpu = counters["user_s"] + counters["system_s"]
    # The generator exits at most 0.2 s after closing its clients, before the servers have
    # handled the disconnects: what they spend after that, until idle, is reported on its own.
    close_cpu, close_s = settle(server.pids)
    for p in profilers:
        p.wait()
    if done.returncode != 0:
        raise RuntimeError(f"joinstorm ({loadgen}) failed ({done.returncode}):\n"
                           f"{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["server_cpu_s"] = round(server_cpu, 2)
    result["server_cpu_ms_per_client"] = round(server_cpu * 1000 / clients, 3)
    result["after_close_cpu_ms_per_client"] = round(close_cpu * 1000 / clients, 3)
    result["after_close_busy_s"] = round(close_s, 1)
    result["loadgen_cpu_ms_per_client"] = round(loadgen_cpu * 1000 / clients, 3)
    result["server_counters"] = {
        **counters, "user_s": round(counters["user_s"], 2),
        "system_s": round(counters["system_s"], 2),
    }
    result.update(kind="joinstorm", server=server.name, procs=len(server.procs),
                  signed_in=args.joinstorm_signed_in, loadgen=loadgen,
                  loadgen_sched=args.joinstorm_sched, **server.extra)
    return result


def children_cpu_s() -> float:
    """CPU seconds (user + system) of this process's children that have been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def settle(pids: list[int], *, idle_share: float = 0.05, step_s: float = 0.5,
           timeout_s: float = 120.0) -> tuple[float, float]:
    """Wait until the servers are idle (together less than `idle_share` of a core over a
    `step_s` window) and return (CPU seconds they used meanwhile, seconds waited): the work a
    storm leaves behind once the load generator is gone, mostly its clients' disconnects."""
    start = time.monotonic()
    first = last = sum(cpu_s(pid) for pid in pids)
    while time.monotonic() - start < timeout_s:
        time.sleep(step_s)
        now = sum(cpu_s(pid) for pid in pids)
        if now - last < idle_share * step_s:
            break
        last = now
    return last - first, time.monotonic() - start


def machine() -> dict:
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "kind": "machine",
        "cpus": os.cpu_count(),
        "loadavg_1m": os.getloadavg()[0],
        "python": platform.python_version(),
        "node": node.stdout.strip(),
        "commit": commit.stdout.strip(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def table(results: list[dict]) -> str:
    rows = [
        "| server | receivers | chatters | offered msg/s | deliveries/s | p50 ms | p95 ms "
        "| p99 ms | loss | unacked | batches | server CPU % | loadgen CPU % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in (r for r in results if r["kind"] == "load"):
        lat = r["latency_ms"]
        cpu = "+".join(f"{c:.0f}" for c in r["server_cpu_pct"] if c is not None)
        rows.append(
            f"| {r['server']} | {r['joined']} | {r['chatters']} | {r['offered_msgs_per_s']} "
            f"| {r['deliveries_per_s']} | {lat['p50']} | {lat['p95']} | {lat['p99']} "
            f"| {r['loss']} | {r['sent_in_window'] - r['acked_in_window']} "
            f"| {r['chat_batches']} | {cpu} | {r['loadgen_cpu_pct']} |"
        )
    idle = [r for r in results if r["kind"] == "idle"]
    if idle:
        rows += [
            "",
            "| server | idle connections | RSS before MB | RSS after MB | KB/connection |",
            "|---|---|---|---|---|",
        ]
        for r in idle:
            joined = " (in a room)" if r["joined_room"] else ""
            rows.append(
                f"| {r['server']} | {r['connected']}{joined} | {r['rss_before_kb'] // 1024} "
                f"| {r['rss_after_kb'] // 1024} | {r['kb_per_connection']} |"
            )
    storms = [r for r in results if r["kind"] == "joinstorm"]
    if storms:
        rows += [
            "",
            "| server | clients | joined | refused | join failed | all joined s "
            "| join ack p50 ms | p99 ms | connect+join p99 ms | server CPU s | CPU ms/client "
            "| after close: CPU ms/client | busy s | loadgen | loadgen CPU ms/client "
            "| server user s / sys s | server preempted (involuntary switches) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in storms:
            who = " (signed in)" if r.get("signed_in") else ""
            counters = r.get("server_counters", {})
            rows.append(
                f"| {r['server']}{who} | {r['clients']} | {r['joined']} | {r['refused']} "
                f"| {r['join_failed']} | {r['all_joined_s']} | {r['join_ack_ms']['p50']} "
                f"| {r['join_ack_ms']['p99']} | {r['connect_join_ms']['p99']} "
                f"| {r.get('server_cpu_s')} | {r.get('server_cpu_ms_per_client')} "
                f"| {r.get('after_close_cpu_ms_per_client')} | {r.get('after_close_busy_s')} "
                f"| {r.get('loadgen', 'js')} ({r.get('loadgen_sched', 'normal')}) "
                f"| {r.get('loadgen_cpu_ms_per_client')} "
                f"| {counters.get('user_s')} / {counters.get('system_s')} "
                f"| {counters.get('involuntary_switches')} |"
            )
    return "\n".join(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    def ints(text: str) -> list[int]:
        return [int(part) for part in text.split(",") if part]

    def loadgens(text: str) -> list[str]:
        names = [part for part in text.split(",") if part]
        if not names or set(names) - {"go", "js"}:
            raise argparse.ArgumentTypeError(f"{text!r}: go, js or a comma list of them")
        return names

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--servers", default="node,gateway", help="comma list of node, gateway")
    p.add_argument("--procs", type=ints, default=[1], help="gateway processes, e.g. 1,2")
    p.add_argument("--receivers", type=ints, default=[1000])
    p.add_argument("--chatters", type=ints, default=[100])
    p.add_argument("--rate", type=float, default=1.0, help="messages/s per chatter")
    p.add_argument("--duration", type=float, default=30.0, help="steady window, seconds")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--workers", type=int, default=1, help="loadgen receiver threads")
    p.add_argument("--client", choices=("raw", "sio"), default="raw", help="receiver client")
    p.add_argument("--idle", type=int, default=10_000, help="idle connections (0: skip)")
    p.add_argument("--idle-join", action="store_true", help="idle sockets also join a room")
    p.add_argument("--idle-settle", type=float, default=5.0, help="seconds before reading RSS")
    p.add_argument("--joinstorm", type=ints, default=[], help="join storm sizes, e.g. 3000")
    p.add_argument("--joinstorm-concurrency", type=int, default=0,
                   help="join storm clients in flight (0: all at once)")
    p.add_argument(
        "--joinstorm-loadgen", type=loadgens, default=["go"], metavar="go|js|go,js",
        help="join storm generator: go (bench/fanout/stormgen, the same protocol work for a "
             "fraction of the CPU) or js (joinstorm.js, ~0.4-0.5 ms CPU per client: on 2 cores a "
             "10,000 storm then runs at its pace); a comma list runs each storm once with each",
    )
    p.add_argument(
        "--joinstorm-sched", choices=tuple(SCHED), default="batch",
        help="the storm generator's scheduling: batch (SCHED_BATCH, `chrt --batch 0`: its "
             "wake-ups do not preempt the servers) or normal. On 2 shared cores a generator "
             "that wakes for every reply, under the normal policy, preempted each server process "
             "~13,000 times a second, and the cache misses cost the gateway 50%% more CPU per "
             "client with two processes, Node 10%%; a generator on its own machine, as real "
             "viewers are, preempts nothing (BENCHMARKS.md, session 11's end)",
    )
    p.add_argument("--joinstorm-signed-in", action="store_true",
                   help="join storm clients connect with an access token each (default: guests)")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument(
        "--chat-rate-limit",
        default="30/10 seconds",
        help="gateway CHAT_RATE_LIMIT for the run: the default 5/10 s allows only 0.5 msg/s",
    )
    p.add_argument("--out-dir", type=Path, default=DEFAULT_OUT, help="logs, profiles, results")
    p.add_argument("--out", type=Path, help="append JSON lines here (default: out-dir)")
    p.add_argument("--profile", action="store_true", help="py-spy flame graph per gateway run")
    p.add_argument(
        "--pin-loadgen", type=int, metavar="CPU",
        help="run the load generator on this CPU alone and the servers on the other CPUs "
             "(taskset): on 2 cores each server, Node or both gateways together, gets one core "
             "and the generator the other, so the generator's CPU no longer decides the time",
    )
    p.add_argument("--profile-format", choices=("flamegraph", "raw"), default="flamegraph",
                   help="py-spy output: an SVG, or collapsed stacks (raw) to summarise")
    args = p.parse_args(argv)
    args.keys_dir = args.out_dir
    args.out = args.out or args.out_dir / "results.jsonl"
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    fds = raise_fd_limit()
    if args.idle + 100 > fds:
        sys.exit(f"error: --idle {args.idle} needs more file descriptors than ulimit -n {fds}")
    if args.pin_loadgen is not None:
        others = sorted(os.sched_getaffinity(0) - {args.pin_loadgen})
        if args.pin_loadgen not in os.sched_getaffinity(0) or not others:
            sys.exit(f"error: --pin-loadgen {args.pin_loadgen}: need that CPU and another one")
        PIN["loadgen"] = ["taskset", "-c", str(args.pin_loadgen)]
        PIN["server"] = ["taskset", "-c", ",".join(map(str, others))]
    args.stormgen = stormgen() if args.joinstorm and "go" in args.joinstorm_loadgen else None
    info = machine()
    info["pin_loadgen"] = args.pin_loadgen
    info["joinstorm_loadgen"] = args.joinstorm_loadgen if args.joinstorm else None
    info["joinstorm_sched"] = args.joinstorm_sched if args.joinstorm else None
    results: list[dict] = [info]
    if info["loadavg_1m"] > BUSY_LOAD:
        print(
            f"# WARNING: load average {info['loadavg_1m']:.2f}: not a quiet machine, "
            "these numbers are smoke-run numbers, not results",
            flush=True,
        )
    configs: list[tuple[str, int]] = []
    for kind in args.servers.split(","):
        if kind == "node":
            configs.append(("node", 1))
        elif kind == "gateway":
            configs += [("gateway", n) for n in args.procs]
        else:
            sys.exit(f"error: unknown server {kind!r} (node, gateway)")
    for kind, procs in configs:
        ctx = node_reference(args.out_dir) if kind == "node" else gateway(args, procs, args.out_dir)
        with ctx as server:
            # Idle first: on a fresh process the RSS growth is the connections' alone, not
            # blurred by heap the load runs grew and freed.
            if args.idle:
                results.append(idle_run(args, server))
                print(json.dumps(results[-1]), flush=True)
            for clients in args.joinstorm:
                for loadgen in args.joinstorm_loadgen:
                    results.append(joinstorm_run(args, server, clients, loadgen))
                    print(json.dumps(results[-1]), flush=True)
            for receivers in args.receivers:
                for chatters in args.chatters:
                    results.append(load_run(args, server, receivers, chatters))
                    print(json.dumps(results[-1]), flush=True)
    with open(args.out, "a") as out:
        for r in results:
            out.write(json.dumps(r) + "\n")
    print(
        f"\n{info['at']}, {info['cpus']} CPUs, load {info['loadavg_1m']:.2f}, "
        f"commit {info['commit']}, node {info['node']}, python {info['python']}"
        + (f", load generator pinned to CPU {args.pin_loadgen}, servers to the others"
           if args.pin_loadgen is not None else "")
        + "\n"
    )
    print(table(results))


if __name__ == "__main__":
    main()
