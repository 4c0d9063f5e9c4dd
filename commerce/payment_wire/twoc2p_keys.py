"""Where the 2C2P Payment Maintenance keys come from: settings, files, or a development pair.

The merchant's RSA private key signs refund requests and decrypts 2C2P's replies; its public
half is uploaded to the 2C2P portal (Account > Options > Merchant Public Keys). 2C2P's public
key or certificate (Account > Options > 2C2P Public Keys > JWE) encrypts requests and verifies
replies. See developer.2c2p.com/docs/reference-jwt-with-key.

Development mirrors `shared/tokens.py`: with no merchant key configured, a 2048-bit RSA pair
is generated once under `var/` (`TWOC2P_DEV_MERCHANT_KEY_FILE`, mode 0600, created atomically
so concurrent processes agree) and reused by every local process. To try refunds against the
real 2C2P sandbox, upload its public half (`python -m commerce.payment_wire.twoc2p_keys`
prints it) and set `TWOC2P_PUBLIC_KEY(_FILE)` to the sandbox key from the portal. Production
refuses to start without both keys or with the development file (see `shared/settings.py`).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.errors import ConfigError
from shared.keyfiles import dev_key, public_pem_of, read_key
from shared.settings import TWOC2P_DEV_MERCHANT_KEY_FILE, CommerceSettings


def generate_private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def dev_private_pem(path: Path = TWOC2P_DEV_MERCHANT_KEY_FILE) -> str:
    """The development merchant key, generated on first use (first writer wins)."""
    return dev_key(path, generate_private_pem)


def merchant_private_pem(settings: CommerceSettings) -> str:
    """The configured merchant key, or (outside production) the development one."""
    secret = settings.payments.twoc2p.merchant_private_key
    pem = read_key(secret.get_secret_value() if secret else None,
                settings.payments.twoc2p.merchant_private_key_file)
    if pem is None:
        if settings.is_production:
            raise ConfigError("TWOC2P_MERCHANT_PRIVATE_KEY(_FILE) must be set in production")
        pem = dev_private_pem()
    return pem


def provider_public_pem(settings: CommerceSettings) -> str | None:
    """2C2P's public key or certificate; None when not configured (refunds then unsupported)."""
    return read_key(settings.payments.twoc2p.public_key, settings.payments.twoc2p.public_key_file)


def maintenance_pems(settings: CommerceSettings) -> tuple[str, str | None]:
    """(merchant private key PEM, 2C2P public key PEM or None) for the adapter."""
    return merchant_private_pem(settings), provider_public_pem(settings)


if __name__ == "__main__":  # print the development public key to upload to the sandbox portal
    print(public_pem_of(dev_private_pem()), end="")
