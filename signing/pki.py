"""Development PKI and signing identities (数字证书).

A root CA, an issuing CA, one document-signing certificate per organisation and a timestamp
authority certificate, all generated with ``cryptography``. Keys are RSA because the loopback
timestamp authority signs with pyHanko's RSA-only test timestamper. Every function returns bytes
(DER certificates, DER CRLs, password-protected PKCS#12 bundles); nothing touches the disk.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.errors import CertificateExpired, KeyMismatch, WrongPassword

DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
"""id-kp-documentSigning (RFC 9336)."""
ADOBE_AUTHENTIC_DOCUMENTS = ObjectIdentifier("1.2.840.113583.1.1.5")
"""Adobe Authentic Documents Trust, understood by PDF readers."""

_KEY_BITS = 2048
CRL_VALIDITY = dt.timedelta(days=7)
"""How far ahead a CRL's next update lies, as with a CA publishing weekly."""


@dataclass(frozen=True)
class Organisation:
    """An organisation that seals documents (审查机构、主管部门)."""

    name: str
    """Certificate common name: the organisation's name in Chinese, e.g. 某市消防救援支队."""
    organisation: str
    """Subject O: the legal body the seal belongs to."""
    unit: str
    """Subject OU: the department or purpose, e.g. 施工图审查."""
    slug: str
    """ASCII identifier, used for file names and lookups."""


@dataclass(frozen=True)
class DevPki:
    """A complete development PKI; every bundle is encrypted with the same password."""

    root_certificate: bytes
    """DER of the self-signed root (the trust anchor)."""
    issuing_certificate: bytes
    """DER of the issuing CA, signed by the root."""
    issuing_pkcs12: bytes
    """PKCS#12 of the issuing CA, to issue further certificates and CRLs."""
    root_pkcs12: bytes
    """PKCS#12 of the root CA, to issue the issuing CA's CRL."""
    tsa_pkcs12: bytes
    """PKCS#12 of the timestamp authority (EKU timeStamping, critical)."""
    signers: dict[str, bytes] = field(default_factory=dict)
    """PKCS#12 bundle of each organisation, by slug."""
    crls: dict[str, bytes] = field(default_factory=dict)
    """DER CRLs by file name (root.crl, issuing.crl), as published at ``crl_base_url``."""


@dataclass(frozen=True)
class SigningIdentity:
    """A certificate with its private key, read from a PKCS#12 bundle."""

    certificate: x509.Certificate
    """The end-entity certificate."""
    key: rsa.RSAPrivateKey
    """Its private key (RSA)."""
    chain: tuple[x509.Certificate, ...]
    """Further certificates of the bundle (issuing CA, root)."""

    @property
    def common_name(self) -> str:
        return _name_part(self.certificate.subject, NameOID.COMMON_NAME)

    @property
    def organisation(self) -> str:
        return _name_part(self.certificate.subject, NameOID.ORGANIZATION_NAME)


@dataclass(frozen=True)
class _Authority:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey
    crl_url: str | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name_part(name: x509.Name, oid: ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def _subject(common_name: str, organisation: str = "", unit: str = "") -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN")]
    if organisation:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    if unit:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(parts)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)


def _key_usage(*, signing: bool = False, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=signing,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _build(
    subject: x509.Name,
    public_key: rsa.RSAPublicKey,
    issuer: _Authority | None,
    issuer_key: rsa.RSAPrivateKey,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    extensions: Sequence[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer is not None:
        issuer_public = issuer.certificate.public_key()
        assert isinstance(issuer_public, rsa.RSAPublicKey)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False
        )
        if issuer.crl_url:
            point = x509.DistributionPoint([x509.UniformResourceIdentifier(issuer.crl_url)], None, None, None)
            builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _bundle(
    name: str, key: rsa.RSAPrivateKey, certificate: x509.Certificate, chain: Iterable[x509.Certificate], password: bytes
) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        name.encode("utf-8"),
        key,
        certificate,
        list(chain) or None,
        serialization.BestAvailableEncryption(password),
    )


def _crl_url(base: str | None, file_name: str) -> str | None:
    return f"{base.rstrip('/')}/{file_name}" if base else None


def generate_dev_pki(
    organisations: Sequence[Organisation],
    *,
    password: bytes,
    crl_base_url: str | None = None,
    now: dt.datetime | None = None,
    validity: dt.timedelta = dt.timedelta(days=730),
    tsa_validity: dt.timedelta | None = None,
    crl_validity: dt.timedelta = CRL_VALIDITY,
) -> DevPki:
    """Generate root CA, issuing CA, TSA and one signing certificate per organisation.

    With ``crl_base_url`` every certificate names a CRL distribution point below that URL
    (``root.crl`` for certificates issued by the root, ``issuing.crl`` for the others), and the
    returned ``crls`` hold the matching, empty CRLs to publish there. Signing certificates are
    valid for ``validity``, the TSA for ``tsa_validity`` (default: the same), the issuing CA three
    times and the root five times as long. The CRLs' next update is ``crl_validity`` away.
    """
    start = (now or _now()) - dt.timedelta(minutes=5)
    root_key = _new_key()
    root_cert = _build(
        _subject("联图开发根证书 Liantu Development Root CA", "联图 Liantu"),
        root_key.public_key(),
        None,
        root_key,
        not_before=start,
        not_after=start + validity * 5,
        extensions=[
            (x509.BasicConstraints(ca=True, path_length=1), True),
            (_key_usage(ca=True), True),
        ],
    )
    root = _Authority(root_cert, root_key, _crl_url(crl_base_url, "root.crl"))
    issuing_key = _new_key()
    issuing_cert = _build(
        _subject("联图开发签章 CA Liantu Development Issuing CA", "联图 Liantu"),
        issuing_key.public_key(),
        root,
        root_key,
        not_before=start,
        not_after=start + validity * 3,
        extensions=[
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (_key_usage(ca=True), True),
        ],
    )
    issuing = _Authority(issuing_cert, issuing_key, _crl_url(crl_base_url, "issuing.crl"))
    chain = (issuing_cert, root_cert)

    tsa_key = _new_key()
    tsa_cert = _build(
        _subject("联图时间戳服务 Liantu Development TSA", "联图 Liantu", "时间戳服务"),
        tsa_key.public_key(),
        issuing,
        issuing_key,
        not_before=start,
        not_after=start + (tsa_validity or validity),
        extensions=[
            (_key_usage(signing=True), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True),
        ],
    )
    signer_bundles = {
        org.slug: _bundle(org.slug, key, cert, chain, password)
        for org in organisations
        for key, cert in [_issue_signing(org, issuing, not_before=start, not_after=start + validity)]
    }
    crls = {}
    if crl_base_url:
        crls = {
            "root.crl": _crl(root, now=now, validity=crl_validity),
            "issuing.crl": _crl(issuing, now=now, validity=crl_validity),
        }
    return DevPki(
        root_certificate=root_cert.public_bytes(serialization.Encoding.DER),
        issuing_certificate=issuing_cert.public_bytes(serialization.Encoding.DER),
        issuing_pkcs12=_bundle("issuing", issuing_key, issuing_cert, [root_cert], password),
        root_pkcs12=_bundle("root", root_key, root_cert, [], password),
        tsa_pkcs12=_bundle("tsa", tsa_key, tsa_cert, chain, password),
        signers=signer_bundles,
        crls=crls,
    )


def _issue_signing(
    org: Organisation, issuer: _Authority, *, not_before: dt.datetime, not_after: dt.datetime
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = _new_key()
    cert = _build(
        _subject(org.name, org.organisation, org.unit),
        key.public_key(),
        issuer,
        issuer.key,
        not_before=not_before,
        not_after=not_after,
        extensions=[
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (_key_usage(signing=True), True),
            (x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ADOBE_AUTHENTIC_DOCUMENTS]), False),
        ],
    )
    return key, cert


def _authority(pkcs12_bytes: bytes, password: bytes, crl_url: str | None) -> _Authority:
    identity = load_pkcs12(pkcs12_bytes, password, check_validity=False)
    return _Authority(identity.certificate, identity.key, crl_url)


def issue_signing_pkcs12(
    issuer_pkcs12: bytes,
    password: bytes,
    organisation: Organisation,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    crl_url: str | None = None,
) -> bytes:
    """Issue a further signing certificate (e.g. with a past validity period, for tests of expiry)."""
    issuer = _authority(issuer_pkcs12, password, crl_url)
    key, cert = _issue_signing(organisation, issuer, not_before=not_before, not_after=not_after)
    issuer_chain = load_pkcs12(issuer_pkcs12, password, check_validity=False).chain
    return _bundle(organisation.slug, key, cert, (issuer.certificate, *issuer_chain), password)


def _crl(
    issuer: _Authority,
    *,
    now: dt.datetime | None,
    revoked: Iterable[int] = (),
    validity: dt.timedelta = CRL_VALIDITY,
) -> bytes:
    moment = now or _now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(moment - dt.timedelta(minutes=5))
        .next_update(moment + validity)
        .add_extension(x509.CRLNumber(int(moment.timestamp())), critical=False)
    )
    issuer_public = issuer.certificate.public_key()
    assert isinstance(issuer_public, rsa.RSAPublicKey)
    builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False)
    for serial in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(moment).build()
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def make_crl(
    issuer_pkcs12: bytes, password: bytes, *, revoked_serials: Iterable[int] = (), now: dt.datetime | None = None
) -> bytes:
    """A DER CRL of the CA in ``issuer_pkcs12`` revoking the given serial numbers."""
    return _crl(_authority(issuer_pkcs12, password, None), now=now, revoked=revoked_serials)


def load_pkcs12(
    data: bytes, password: bytes, *, at: dt.datetime | None = None, check_validity: bool = True
) -> SigningIdentity:
    """Open a PKCS#12 bundle; check that key and certificate match and that the certificate is valid now."""
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(data, password)
    except ValueError as exc:
        raise WrongPassword(
            "证书文件无法打开：密码错误或文件不是 PKCS#12 格式",
            "The certificate file cannot be opened: wrong password or not a PKCS#12 file",
        ) from exc
    if certificate is None:
        # Some tools export the end-entity certificate without the key ID that ties it to the key.
        leaves = [c for c in chain if not _is_ca(c)]
        certificate = leaves[0] if leaves else None
        chain = [c for c in chain if c is not certificate]
    if key is None or certificate is None:
        raise KeyMismatch("证书文件中缺少私钥或证书", "The certificate file lacks the private key or the certificate")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyMismatch("仅支持 RSA 密钥", "Only RSA keys are supported")
    if key.public_key() != certificate.public_key():
        raise KeyMismatch("私钥与证书不匹配", "The private key does not match the certificate")
    identity = SigningIdentity(certificate, key, tuple(chain))
    if check_validity:
        check_certificate_validity(certificate, at=at)
    return identity


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def check_certificate_validity(certificate: x509.Certificate, *, at: dt.datetime | None = None) -> None:
    """Raise :class:`CertificateExpired` unless ``at`` (default: now) lies in the validity period."""
    moment = at or _now()
    if moment < certificate.not_valid_before_utc:
        raise CertificateExpired(
            f"证书尚未生效（生效时间 {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC）",
            f"The certificate is not valid yet (valid from {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC)",
        )
    if moment > certificate.not_valid_after_utc:
        raise CertificateExpired(
            f"证书已过期（失效时间 {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC）",
            f"The certificate has expired (valid until {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)",
        )


def to_asn1_certificate(certificate: x509.Certificate | bytes) -> asn1_x509.Certificate:
    """The asn1crypto form pyHanko works with."""
    der = certificate if isinstance(certificate, bytes) else certificate.public_bytes(serialization.Encoding.DER)
    return asn1_x509.Certificate.load(der)


def to_asn1_key(key: rsa.RSAPrivateKey) -> asn1_keys.PrivateKeyInfo:
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return asn1_keys.PrivateKeyInfo.load(der)


def certificate_store(certificates: Iterable[x509.Certificate]) -> SimpleCertificateStore:
    """pyHanko's registry of further certificates (chain) to embed."""
    store = SimpleCertificateStore()  # type: ignore[no-untyped-call]
    store.register_multiple([to_asn1_certificate(c) for c in certificates])
    return store


def signer_from_identity(identity: SigningIdentity) -> signers.SimpleSigner:
    """A pyHanko signer holding the key in memory."""
    return signers.SimpleSigner(
        signing_cert=to_asn1_certificate(identity.certificate),
        signing_key=to_asn1_key(identity.key),
        cert_registry=certificate_store(identity.chain),
    )


def signer_from_pkcs12(data: bytes, password: bytes, *, at: dt.datetime | None = None) -> signers.SimpleSigner:
    """Load a PKCS#12 bundle (checked as in :func:`load_pkcs12`) as a pyHanko signer."""
    return signer_from_identity(load_pkcs12(data, password, at=at))
