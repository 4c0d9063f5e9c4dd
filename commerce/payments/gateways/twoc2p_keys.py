"""Where the 2C2P Payment Maintenance keys come from: settings, files, or a development pair.

The merchant's RSA private key signs refund requests and decrypts 2C2P's replies; its public
half is uploaded to the 2C2P portal (Account > Options > Merchant Public Keys). 2C2P's public
key or certificate (Account > Options > 2C2P Public Keys > JWE) encrypts requests and verifies
replies. See developer.2c2p.com/docs/reference-jwt-with-key.

Development mirrors `shared/tokens.py`: with no merchant key configured, a 2048-bit RSA pair
is generated once under `var/` (`TWOC2P_DEV_MERCHANT_KEY_FILE`, mode 0600, created atomically
so concurrent processes agree) and reused by every local process. To try refunds against the
real 2C2P sandbox, upload its public half (`python -m commerce.payments.gateways.twoc2p_keys`
prints it) and set `TWOC2P_PUBLIC_KEY(_FILE)` to the sandbox key from the portal. Production
refuses to start without both keys or with the development file (see `shared/settings.py`).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.errors import ConfigError
from shared.settings import TWOC2P_DEV_MERCHANT_KEY_FILE, CommerceSettings


def generate_private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_pem_of(private_pem: str) -> str:
    """The SubjectPublicKeyInfo PEM to upload to the 2C2P portal."""
    key = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def dev_private_pem(path: Path = TWOC2P_DEV_MERCHANT_KEY_FILE) -> str:
    """The development merchant key, generated on first use (first writer wins)."""
    if path.exists():
        return path.read_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(generate_private_pem())
    os.chmod(tmp, 0o600)
    try:
        os.link(tmp, path)  # atomic: concurrent starters read the winner's key
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text()


def _read(value: str | None, file: Path | None) -> str | None:
    if value:
        return value.replace("\\n", "\n")  # one-line env values carry literal \n
    if file:
        try:
            return file.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read key file {file}: {exc.strerror}") from None
    return None


def merchant_private_pem(settings: CommerceSettings) -> str:
    """The configured merchant key, or (outside production) the development one."""
    secret = settings.twoc2p_merchant_private_key
    pem = _read(secret.get_secret_value() if secret else None,
                settings.twoc2p_merchant_private_key_file)
    if pem is None:
        if settings.is_production:
            raise ConfigError("TWOC2P_MERCHANT_PRIVATE_KEY(_FILE) must be set in production")
        pem = dev_private_pem()
    return pem


def provider_public_pem(settings: CommerceSettings) -> str | None:
    """2C2P's public key or certificate; None when not configured (refunds then unsupported)."""
    return _read(settings.twoc2p_public_key, settings.twoc2p_public_key_file)


def maintenance_pems(settings: CommerceSettings) -> tuple[str, str | None]:
    """(merchant private key PEM, 2C2P public key PEM or None) for the adapter."""
    return merchant_private_pem(settings), provider_public_pem(settings)


if __name__ == "__main__":  # print the development public key to upload to the sandbox portal
    print(public_pem_of(dev_private_pem()), end="")
