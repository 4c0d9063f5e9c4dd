"""2C2P Payment Maintenance ("Payment Action") API: the JWE-in-JWS envelope and its XML.

Refunds (and void/settle/inquiry) do not go through the PGW 4.3 JSON API with its HS256
shared secret (`twoc2p_jwt`): they post XML to a separate endpoint, protected with the
merchant's RSA key pair and 2C2P's public key. Sources:

- developer.2c2p.com/docs/payment-maintenance-refund-guide: HTTPS POST server-to-server,
  "JWE algorithm = RSA-OAEP + A256GCM, the signature uses JWS PS256"; endpoints
  `https://demo2.2c2p.com/2C2PFrontend/PaymentAction/2.0/action` (sandbox) and
  `https://t.2c2p.com/PaymentAction/2.0/action` (production); the request is a
  `<PaymentProcessRequest>` with `version, merchantID, invoiceNo, actionAmount, processType R`.
  Its worked example token is a compact JWS with header `{"alg":"PS256","typ":"JWT"}` whose
  payload is the compact JWE (header `{"alg":"RSA-OAEP","enc":"A256GCM"}`) as ASCII text:
  encrypt first, then sign. `seal`/`unseal` build exactly that shape.
- developer.2c2p.com/docs/reference-jwt-with-key ("JWE + JWS with Keys"): requests are
  encrypted with 2C2P's public key and signed with the merchant's private key; responses are
  signed with 2C2P's key (verify with its public key) and encrypted to the merchant's public
  key (decrypt with the merchant's private key).
- Refund Request Parameters (the same docs): `version` "Current: 4.3" (the guide's example
  still says 3.8; we send 4.3), `actionAmount` two decimals, total refunds never above the
  original amount. The docs show no media type for the raw token; the body is sent as
  `text/plain` (as in choonkeat/2c2p's Go client, `refund.go`, citing the same guide).
- developer.2c2p.com/docs/reference-codes-payment-action-result-code: `respCode` "00" is
  success; e.g. "30"/"40" refund above the transaction amount, "42" refund pending,
  "49" already fully refunded, "96" unable to decrypt.

Rules we hold to: only PS256, RSA-OAEP and A256GCM are accepted (joserfc is told so
explicitly: no `none`, no RSA1_5, no key confusion with the HS256 secret); the signature is
checked before anything is decrypted; the decrypted XML is parsed with defusedxml (no
entities, no DTDs), because it came from the network.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # building only; parsing goes through defusedxml
from dataclasses import dataclass
from decimal import Decimal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException
from joserfc import jwe, jws
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import RSAKey

from commerce.payment_wire.wire_errors import SignatureMismatch, WireFormatError

VERSION = "4.3"
JWS_ALG = "PS256"
JWE_ALG = "RSA-OAEP"
JWE_ENC = "A256GCM"
JWS_HEADER = {"alg": JWS_ALG, "typ": "JWT"}
JWE_HEADER = {"alg": JWE_ALG, "enc": JWE_ENC}
REQUEST_TAG = "PaymentProcessRequest"
RESPONSE_TAG = "PaymentProcessResponse"
SUCCESS = "00"
MAX_TOKEN_BYTES = 64 * 1024  # replies are a few hundred bytes of XML; refuse anything silly


@dataclass(frozen=True, slots=True)
class KeyPair:
    """Our private key (signs what we send, decrypts what we get) and the peer's public key
    (encrypts what we send, verifies what we get). The fake 2C2P uses the same type."""

    own_private: RSAKey
    peer_public: RSAKey


def private_key(pem: str) -> RSAKey:
    """An RSA private key from PEM (PKCS#1 or PKCS#8); anything else is a configuration error."""
    try:
        key = RSAKey.import_key(pem)
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError(f"not an RSA private key PEM: {exc}") from None
    if not key.is_private:
        raise ValueError("an RSA public key was given where the private key belongs")
    return key


def public_key(pem: str) -> RSAKey:
    """An RSA public key from a PEM public key or an X.509 certificate (2C2P's portal offers
    its key as a certificate; merchants upload theirs in x509 format)."""
    try:
        if "BEGIN CERTIFICATE" in pem:
            cert_key = x509.load_pem_x509_certificate(pem.encode("ascii")).public_key()
            if not isinstance(cert_key, rsa.RSAPublicKey):
                raise ValueError("the certificate does not hold an RSA key")
            key = RSAKey.import_key(cert_key)
        else:
            key = RSAKey.import_key(pem)
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError(f"not an RSA public key or certificate PEM: {exc}") from None
    if key.is_private:  # a private key pasted here would be "usable" but is a leak waiting
        raise ValueError("a private key was given where 2C2P's public key belongs")
    return key


def key_pair(own_private_pem: str, peer_public_pem: str) -> KeyPair:
    return KeyPair(private_key(own_private_pem), public_key(peer_public_pem))


def seal(plaintext: bytes, keys: KeyPair) -> str:
    """Encrypt to the peer (JWE RSA-OAEP/A256GCM), then sign the JWE text (JWS PS256)."""
    token = jwe.encrypt_compact(
        JWE_HEADER, plaintext, keys.peer_public, algorithms=[JWE_ALG, JWE_ENC]
    )
    return jws.serialize_compact(
        JWS_HEADER, token.encode("ascii"), keys.own_private, algorithms=[JWS_ALG]
    )


def unseal(token: str | bytes, keys: KeyPair) -> bytes:
    """Verify the peer's PS256 signature, then decrypt the inner JWE with our private key.

    A signature that does not verify raises `SignatureMismatch` before any decryption; a
    signed token whose content we cannot decrypt or parse raises `WireFormatError`.
    """
    text = token.decode("ascii", "replace") if isinstance(token, bytes) else token
    text = text.strip()
    if not text or len(text) > MAX_TOKEN_BYTES or text.count(".") != 2:
        raise SignatureMismatch("2C2P maintenance body is not a compact JWS")
    try:
        signed = jws.deserialize_compact(text, keys.peer_public, algorithms=[JWS_ALG])
    except BadSignatureError as exc:
        raise SignatureMismatch("2C2P maintenance signature does not verify") from exc
    except (JoseError, ValueError) as exc:  # wrong alg, garbled base64/JSON
        raise SignatureMismatch(f"2C2P maintenance JWS rejected: {exc}") from exc
    try:
        inner = signed.payload.decode("ascii")
        opened = jwe.decrypt_compact(inner, keys.own_private, algorithms=[JWE_ALG, JWE_ENC])
    except (JoseError, ValueError) as exc:
        raise WireFormatError(f"2C2P maintenance JWE could not be decrypted: {exc}") from exc
    if opened.plaintext is None:
        raise WireFormatError("2C2P maintenance JWE is empty")
    return opened.plaintext


def build_xml(root: str, fields: list[tuple[str, str]]) -> bytes:
    """A flat XML document in the given element order (2C2P's examples keep a fixed order)."""
    element = ET.Element(root)
    for name, value in fields:
        ET.SubElement(element, name).text = value
    return ET.tostring(element, encoding="utf-8", xml_declaration=False)


def refund_request(*, merchant_id: str, invoice_no: str, amount: Decimal) -> bytes:
    """The refund `PaymentProcessRequest`, fields in the refund guide's example order."""
    return build_xml(REQUEST_TAG, [
        ("version", VERSION),
        ("merchantID", merchant_id),
        ("invoiceNo", invoice_no),
        ("actionAmount", str(amount.quantize(Decimal("0.01")))),
        ("processType", "R"),
    ])


def parse_xml(document: bytes, root: str) -> dict[str, str]:
    """The direct children of `root` as text (nested lists such as `refundList` are skipped).

    defusedxml refuses DTDs, entity declarations and external references outright.
    """
    try:
        element = SafeET.fromstring(document, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError) as exc:
        raise WireFormatError(f"2C2P maintenance XML rejected: {exc}") from exc
    if element.tag != root:
        raise WireFormatError(f"expected <{root}>, got <{element.tag}>")
    return {child.tag: (child.text or "").strip() for child in element if len(child) == 0}
