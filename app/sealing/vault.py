"""Secrets at rest: a PKCS#12 bundle and its password, encrypted with AES-256-GCM.

The key comes from :attr:`app.settings.Settings.effective_signing_key`. The stored text is
``v1.<base64 of nonce ‖ ciphertext>``; the plaintext is the password's length, the password and the
bundle, so that one value holds both. The identity's fingerprint is the associated data: a sealed
bundle copied onto another identity row does not open.
"""

from __future__ import annotations

import base64
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.errors import ServiceUnavailable

_VERSION = "v1."
_NONCE_BYTES = 12


def seal_bundle(key: bytes, fingerprint: str, pkcs12: bytes, password: bytes) -> str:
    """Encrypt ``pkcs12`` and its ``password`` for storage in ``SigningIdentity.pkcs12_sealed``."""
    nonce = os.urandom(_NONCE_BYTES)
    plaintext = struct.pack(">I", len(password)) + password + pkcs12
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, fingerprint.encode("ascii"))
    return _VERSION + base64.b64encode(nonce + ciphertext).decode("ascii")


def open_bundle(key: bytes, fingerprint: str, sealed: str) -> tuple[bytes, bytes]:
    """The PKCS#12 bundle and its password; a wrong key or altered text is refused."""
    if not sealed.startswith(_VERSION):
        raise _unreadable()
    try:
        raw = base64.b64decode(sealed[len(_VERSION) :], validate=True)
        plaintext = AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], fingerprint.encode("ascii"))
    except (ValueError, InvalidTag) as exc:
        raise _unreadable() from exc
    (length,) = struct.unpack(">I", plaintext[:4])
    return plaintext[4 + length :], plaintext[4 : 4 + length]


def _unreadable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "签章证书无法解密：加密密钥（LIANTU_SIGNING_KEY）与导入时不同，请重新导入证书",
        "The signing certificate cannot be decrypted: the key (LIANTU_SIGNING_KEY) differs from the one it was "
        "imported with; import the certificate again",
    )
