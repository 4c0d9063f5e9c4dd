"""PEM keys from settings: a value or a file, development keys generated once, public halves.

Shared by the JWT keys (`shared.tokens`) and the 2C2P merchant key
(`commerce.payment_wire.twoc2p_keys`), which follow the same rules: a setting holds the
PEM (one-line env values may carry literal `\\n`) or names a file; outside production an unset
key is generated once under var/ and shared by every local process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from shared.errors import ConfigError


def read_key(value: str | None, file: Path | None) -> str | None:
    """The PEM given inline (`value`) or in `file`; None when neither is set."""
    if value:
        return value.replace("\\n", "\n")
    if file:
        try:
            return file.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read key file {file}: {exc.strerror}") from None
    return None


def dev_key(path: Path, generate: Callable[[], str]) -> str:
    """The development key at `path`, generated on first use. Atomic: concurrent starters
    each write a temporary file and hard-link it into place; the first link wins and every
    process reads the winner's key."""
    if path.exists():
        return path.read_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(generate())
    os.chmod(tmp, 0o600)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text()


def public_pem_of(private_pem: str) -> str:
    """The SubjectPublicKeyInfo PEM of a private key (EC or RSA)."""
    key = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
