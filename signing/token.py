"""Signing keys on a PKCS#11 token (USB key, HSM; SoftHSM2 in development).

The key never leaves the token: pyHanko's PKCS#11 signer asks the token to sign. The chain
(issuing CA, root) is passed in, since tokens often hold only the end-entity certificate.
:func:`import_pkcs12` puts a development PKCS#12 bundle onto a token, for demonstrations and tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pkcs11 import Attribute, ObjectClass
from pkcs11.util.rsa import decode_rsa_private_key
from pkcs11.util.x509 import decode_x509_certificate
from pyhanko.config.pkcs11 import TokenCriteria
from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

from signing.errors import TokenUnavailable, WrongPassword
from signing.pki import check_certificate_validity, load_pkcs12, to_asn1_certificate

SOFTHSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"


def _open(library: str, token_label: str, pin: str, *, read_write: bool = False) -> Any:
    try:
        if read_write:
            return pkcs11.lib(library).get_token(token_label=token_label).open(rw=True, user_pin=pin)
        return open_pkcs11_session(library, token_criteria=TokenCriteria(label=token_label), user_pin=pin)
    except pkcs11.PinIncorrect as exc:
        raise WrongPassword("PKCS#11 令牌 PIN 码错误", "Wrong PIN for the PKCS#11 token") from exc
    except (pkcs11.PKCS11Error, OSError, RuntimeError) as exc:
        raise TokenUnavailable(
            f"无法打开 PKCS#11 令牌 {token_label}：{type(exc).__name__}",
            f"Cannot open PKCS#11 token {token_label}: {type(exc).__name__} {exc}",
        ) from exc


def import_pkcs12(
    library: str, token_label: str, pin: str, pkcs12_bytes: bytes, password: bytes, *, label: str, key_id: bytes
) -> None:
    """Store the key (non-extractable) and the certificate of a PKCS#12 bundle on a token."""
    identity = load_pkcs12(pkcs12_bytes, password, check_validity=False)
    key_der = identity.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    cert_der = identity.certificate.public_bytes(serialization.Encoding.DER)
    session = _open(library, token_label, pin, read_write=True)
    try:
        key_attrs = dict(decode_rsa_private_key(key_der))
        key_attrs.update(
            {
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.SIGN: True,
                Attribute.LABEL: label,
                Attribute.ID: key_id,
            }
        )
        session.create_object(key_attrs)
        cert_attrs = dict(decode_x509_certificate(cert_der))
        cert_attrs.update({Attribute.TOKEN: True, Attribute.LABEL: label, Attribute.ID: key_id})
        cert_attrs[Attribute.CLASS] = ObjectClass.CERTIFICATE
        session.create_object(cert_attrs)
    except pkcs11.PKCS11Error as exc:
        raise TokenUnavailable(
            f"无法将密钥写入令牌：{type(exc).__name__}", f"Cannot store the key on the token: {type(exc).__name__}"
        ) from exc
    finally:
        session.close()


@contextmanager
def token_signer(
    library: str, token_label: str, pin: str, *, key_label: str, chain: Sequence[bytes] = ()
) -> Iterator[PKCS11Signer]:
    """A pyHanko signer for the key ``key_label`` on a token; the session closes on exit.

    The certificate stored with the key is checked for validity before it is used.
    """
    session = _open(library, token_label, pin)
    try:
        signer = PKCS11Signer(
            session,
            key_label=key_label,
            cert_label=key_label,
            ca_chain=[to_asn1_certificate(der) for der in chain],
        )
        try:
            cert = signer.signing_cert
        except (pkcs11.PKCS11Error, ValueError, KeyError) as exc:
            raise TokenUnavailable(
                f"令牌上没有密钥或证书 {key_label}", f"The token holds no key or certificate {key_label}"
            ) from exc
        check_certificate_validity(x509.load_der_x509_certificate(cert.dump()))
        yield signer
    finally:
        session.close()
