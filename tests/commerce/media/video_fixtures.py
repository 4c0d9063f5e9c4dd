"""A real recording for clip tests: a short H.264/AAC video made by ffmpeg itself, packaged as
HLS and served over HTTPS the way Cloudflare Stream serves a VOD
(`https://{customer host}/{video uid}/manifest/video.m3u8`)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

QUIET = ("-nostdin", "-loglevel", "error", "-y")


def make_recording(ffmpeg: str, root: Path, video_uid: str, *, seconds: int = 3) -> Path:
    """Render `seconds` of test pattern + sine tone (320x240, 25 fps, a keyframe every second)
    to MP4, then repackage it (stream copy) as a VOD HLS playlist under `{uid}/manifest/`."""
    mp4 = root / "source.mp4"
    subprocess.run(
        [
            *(ffmpeg, *QUIET),
            *("-f", "lavfi", "-i", f"testsrc=duration={seconds}:size=320x240:rate=25"),
            *("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"),
            *["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "25", "-c:a", "aac", "-shortest"],
            str(mp4),
        ],
        check=True,
    )
    manifest = root / video_uid / "manifest"
    manifest.mkdir(parents=True)
    subprocess.run(
        [
            *(ffmpeg, *QUIET, "-i", str(mp4)),
            *["-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod"],
            *("-hls_segment_filename", str(manifest / "seg%03d.ts"), str(manifest / "video.m3u8")),
        ],
        check=True,
    )
    return mp4


def probe(ffprobe: str, path: Path) -> dict[str, Any]:
    """ffprobe's JSON view of a media file: `format` (duration, ...) and `streams`."""
    out = subprocess.run(
        [
            ffprobe,
            *["-v", "error", "-print_format", "json", "-show_format", "-show_streams"],
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout))


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep one line per segment request out of the test output."""


@contextmanager
def https_files(root: Path, tls_dir: Path) -> Iterator[str]:
    """Serve `root` over HTTPS on 127.0.0.1 with a throwaway self-signed certificate (ffmpeg's
    `tls_verify` is off by default); yields the `host:port` to use as the customer playback
    host, so the task's `https://` manifest URL reaches these files."""
    cert, key = _self_signed(tls_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    handler = partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
