"""Sentry starts only with a DSN, and then really delivers events (to a local fake Sentry)."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import brotli
import pytest
import sentry_sdk

from shared.observability import init_sentry, release
from shared.settings import GatewaySettings


class _FakeSentry(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:  # http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        encoding = self.headers.get("Content-Encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":  # sentry-sdk prefers brotli when the module is importable
            body = brotli.decompress(body)
        type(self).received.append((self.path, body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def fake_sentry() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    _FakeSentry.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeSentry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://publickey@127.0.0.1:{server.server_port}/1", _FakeSentry.received
    finally:
        server.shutdown()
        server.server_close()


def test_without_a_dsn_sentry_stays_off() -> None:
    settings = GatewaySettings(sentry_dsn=None)
    assert init_sentry(settings, service="realtime") is False
    assert not sentry_sdk.get_client().is_active()


def test_release_prefers_the_deployed_tag() -> None:
    assert release(GatewaySettings(release="img-1234")) == "img-1234"
    assert release(GatewaySettings()).startswith("livecommerce@")


def test_with_a_dsn_errors_reach_sentry_without_personal_data(
    fake_sentry: tuple[str, list[tuple[str, bytes]]],
) -> None:
    dsn, received = fake_sentry
    # A separate interpreter: sentry-sdk patches frameworks globally once initialised.
    script = (
        "import sentry_sdk\n"
        "from shared.observability import init_sentry\n"
        "from shared.settings import GatewaySettings, load\n"
        "assert init_sentry(load(GatewaySettings), service='realtime')\n"
        "opts = sentry_sdk.get_client().options\n"
        "assert opts['send_default_pii'] is False and opts['environment'] == 'test', opts\n"
        "try:\n"
        "    raise RuntimeError('observability-probe')\n"
        "except RuntimeError as exc:\n"
        "    sentry_sdk.capture_exception(exc)\n"
        "sentry_sdk.flush(5)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"SENTRY_DSN": dsn, "APP_ENV": "test", "RELEASE": "probe-1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    envelopes = [body for path, body in received if path == "/api/1/envelope/"]
    assert envelopes, received
    event = b"".join(envelopes)
    assert b"observability-probe" in event
    assert b'"environment":"test"' in event and b'"release":"probe-1"' in event
    assert b'"server_name":"realtime"' in event
