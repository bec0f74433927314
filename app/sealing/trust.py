"""Trust roots (信任根证书): the CAs whose certificates may seal results, several at once.

Configured with ``LIANTU_TRUST_ROOTS`` (PEM files). In development, the root written by
``liantu pki init`` under ``<data_dir>/pki/root.pem`` is trusted as well, so that the demo seals
without further setup.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization

from app.errors import Invalid
from app.settings import Mode, Settings

DEV_PKI_FOLDER = "pki"
DEV_ROOT_FILE = "root.pem"
_MAX_CHAIN = 6
_SHA256 = hashes.SHA256()


def dev_pki_dir(settings: Settings) -> Path:
    """Where ``liantu pki init`` writes the development PKI by default."""
    return settings.data_dir / DEV_PKI_FOLDER


def trust_roots(settings: Settings) -> list[x509.Certificate]:
    """Every configured trust root, plus the development root in development mode."""
    paths = list(settings.trust_roots)
    dev_root = dev_pki_dir(settings) / DEV_ROOT_FILE
    if settings.mode is Mode.DEVELOPMENT and dev_root.is_file() and dev_root not in paths:
        paths.append(dev_root)
    roots: list[x509.Certificate] = []
    for path in paths:
        roots.extend(read_pem_certificates(path.read_bytes()))
    return roots


def trust_roots_der(settings: Settings) -> list[bytes]:
    return [root.public_bytes(serialization.Encoding.DER) for root in trust_roots(settings)]


def read_pem_certificates(data: bytes) -> list[x509.Certificate]:
    """The certificates in a PEM text (or a single DER certificate)."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise Invalid("证书文件无法读取", "The certificate file cannot be read") from exc


def check_chain(
    leaf: x509.Certificate, intermediates: Sequence[x509.Certificate], roots: Sequence[x509.Certificate]
) -> list[x509.Certificate]:
    """The chain from ``leaf`` up to (not including) a trust root; refused when it reaches none.

    Each link is checked by its signature, not only by names.
    """
    if not roots:
        raise Invalid(
            "未配置信任根证书（LIANTU_TRUST_ROOTS），无法确认证书的签发机构",
            "No trust roots are configured (LIANTU_TRUST_ROOTS); the certificate's issuer cannot be confirmed",
        )
    root_fingerprints = {root.fingerprint(_SHA256) for root in roots}
    chain: list[x509.Certificate] = []
    current = leaf
    for _ in range(_MAX_CHAIN):
        if current.fingerprint(_SHA256) in root_fingerprints:
            return chain
        issuer = _issuer_of(current, [*roots, *intermediates])
        if issuer is None:
            break
        if issuer.fingerprint(_SHA256) in root_fingerprints:
            return chain
        chain.append(issuer)
        current = issuer
    raise Invalid(
        f"证书“{_common_name(leaf)}”不是由已配置的信任根证书签发的",
        f"The certificate “{_common_name(leaf)}” does not chain to a configured trust root",
    )


def _issuer_of(cert: x509.Certificate, candidates: Sequence[x509.Certificate]) -> x509.Certificate | None:
    for candidate in candidates:
        if candidate.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return candidate
    return None


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()
