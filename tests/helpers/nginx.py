"""Run the repository's nginx.conf against services started by a test.

`render_config()` copies nginx/nginx.conf into a scratch directory with its own `upstreams.conf`
(the shipped local-cluster file with the server addresses replaced), so the very directives that
are deployed get exercised. `nginx_command()` runs it unprivileged under a prefix directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.helpers.procs import REPO_ROOT, Proc

NGINX_DIR = REPO_ROOT / "nginx"
LISTEN_DIRECTIVE = "listen 8080;"

_UPSTREAM_BLOCK = re.compile(r"upstream\s+(?P<name>\w+)\s*\{(?P<body>[^}]*)\}")
_SERVER_LINE = re.compile(r"^(?P<indent>\s*)server\s+(?P<addr>\S+?)(?P<rest>(\s[^;]*)?;)\s*$")


def find_nginx() -> str:
    """Path of the nginx binary; fails the test with an install hint when there is none."""
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "nginx is not installed, and these tests run the real thing: "
        "`apt-get install -y nginx-light` (or nginx) and run them again",
        pytrace=False,
    )


def rewrite_upstreams(text: str, servers: dict[str, Sequence[str]]) -> str:
    """Replace the `server` lines of each upstream block whose name starts with a key of
    `servers` (e.g. "commerce", "realtime") by one line per address, keeping their parameters.
    """

    def replace_block(match: re.Match[str]) -> str:
        name = match["name"]
        prefixes = [prefix for prefix in servers if name.startswith(prefix)]
        if len(prefixes) != 1:
            raise ValueError(f"no single address list for upstream {name!r} in {list(servers)}")
        lines = match["body"].splitlines()
        server_lines = [line for line in lines if _SERVER_LINE.match(line)]
        if not server_lines:
            raise ValueError(f"upstream {name!r} has no server lines")
        template = _SERVER_LINE.match(server_lines[0])
        assert template is not None
        new_servers = [
            f"{template['indent']}server {addr}{template['rest']}" for addr in servers[prefixes[0]]
        ]
        first = lines.index(server_lines[0])
        kept = [line for line in lines if line not in server_lines]
        kept[first:first] = new_servers
        return f"upstream {name} {{" + "\n".join(kept) + "}"

    rewritten, count = _UPSTREAM_BLOCK.subn(replace_block, text)
    if count == 0:
        raise ValueError("no upstream blocks found")
    return rewritten


def render_config(
    dest: Path,
    *,
    listen_port: int,
    api_addrs: Sequence[str],
    gateway_addrs: Sequence[str],
    upstreams_source: Path = NGINX_DIR / "upstreams.conf",
) -> Path:
    """Write nginx.conf and upstreams.conf into `dest` (created); return the nginx.conf path."""
    dest.mkdir(parents=True, exist_ok=True)
    conf = (NGINX_DIR / "nginx.conf").read_text()
    if conf.count(LISTEN_DIRECTIVE) != 1:
        raise ValueError(f"nginx.conf should contain exactly one {LISTEN_DIRECTIVE!r}")
    conf = conf.replace(LISTEN_DIRECTIVE, f"listen 127.0.0.1:{listen_port};")
    (dest / "nginx.conf").write_text(conf)
    upstreams = rewrite_upstreams(
        upstreams_source.read_text(), {"commerce": api_addrs, "realtime": gateway_addrs}
    )
    (dest / "upstreams.conf").write_text(upstreams)
    return dest / "nginx.conf"


def nginx_command(prefix: Path, conf: Path, *extra_globals: str) -> list[str]:
    """Command line running `conf` in the foreground with relative paths under `prefix`."""
    prefix.mkdir(parents=True, exist_ok=True)
    global_directives = ["daemon off;"]
    if os.geteuid() == 0:
        # As root, workers would drop to `nobody`, which cannot enter a private temp directory
        # holding the prefix (proxy temp files live there): keep them as root in tests.
        global_directives.append("user root;")
    global_directives.extend(extra_globals)
    return [
        find_nginx(),
        "-p", f"{prefix}/",
        "-c", str(conf),
        "-e", "stderr",
        "-g", " ".join(global_directives),
    ]  # fmt: skip


def access_log(proc: Proc) -> list[dict[str, object]]:
    """The JSON access-log entries nginx has written to its stdout so far."""
    entries = []
    for line in proc.log().splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "request_id" in entry:
            entries.append(entry)
    return entries
