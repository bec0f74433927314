"""Signing identities (签章证书) of the organisations that seal: imported, listed, deactivated, opened.

An identity is either a PKCS#12 bundle, kept encrypted at rest (:mod:`app.sealing.vault`), or a key
on a PKCS#11 token named by token and key label, opened with ``LIANTU_PKCS11_MODULE`` and
``LIANTU_PKCS11_PIN``. Before anything is stored the certificate is checked: the bundle opens with
the password, key and certificate belong together, the certificate is valid now and chains to a
configured trust root. An organisation has at most one active identity; importing a new one
deactivates the older ones, which stay listed.

``actor`` is the administrator acting, or ``None`` for the platform itself (``liantu pki init``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from pyhanko.sign import signers
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import audit
from app.errors import Conflict, Forbidden, Invalid, NotFound, ServiceUnavailable
from app.identity.principal import Principal
from app.sealing import trust, vault
from app.settings import Settings
from signing.errors import SigningProblem, TokenUnavailable
from signing.pki import load_pkcs12, signer_from_pkcs12
from storage.models import Organization, OrgKind, SigningIdentity

MAX_PKCS12_BYTES = 64 * 1024
"""Largest PKCS#12 file accepted; real bundles are a few kilobytes."""

SEALING_KINDS = frozenset({OrgKind.DEPARTMENT, OrgKind.BUREAU, OrgKind.REVIEW_AGENCY})
"""Organisations that may hold a signing identity."""

PKCS12 = "pkcs12"
PKCS11 = "pkcs11"


def import_pkcs12(
    session: Session,
    settings: Settings,
    actor: Principal | None,
    organization_id: int,
    *,
    data: bytes,
    password: str,
    roots: Sequence[x509.Certificate] | None = None,
) -> SigningIdentity:
    """Check a PKCS#12 bundle and store it encrypted as the organisation's active identity.

    ``roots`` replaces the configured trust roots (``liantu pki init`` with a folder of its own).
    """
    _require_admin(actor)
    organization = _sealing_organization(session, organization_id)
    if not data:
        raise Invalid("请选择证书文件（.p12 / .pfx）", "Choose a certificate file (.p12 / .pfx)")
    if len(data) > MAX_PKCS12_BYTES:
        raise Invalid(
            f"证书文件过大（上限 {MAX_PKCS12_BYTES // 1024} KiB）",
            f"The certificate file is too large (limit {MAX_PKCS12_BYTES // 1024} KiB)",
        )
    secret = password.encode("utf-8")
    try:
        bundle = load_pkcs12(data, secret)
    except SigningProblem as problem:
        raise Invalid(problem.zh, problem.en) from problem
    chain = trust.check_chain(bundle.certificate, bundle.chain, trust.trust_roots(settings) if roots is None else roots)
    fingerprint = _fingerprint(bundle.certificate)
    identity = _new_identity(session, organization, bundle.certificate, chain, fingerprint=fingerprint, kind=PKCS12)
    identity.pkcs12_sealed = vault.seal_bundle(settings.effective_signing_key, fingerprint, data, secret)
    return _activate(session, actor, organization, identity)


def import_token(
    session: Session,
    settings: Settings,
    actor: Principal | None,
    organization_id: int,
    *,
    token_label: str,
    key_label: str,
    chain_pem: bytes = b"",
) -> SigningIdentity:
    """Register a key held on a PKCS#11 token; the token is opened once to read and check its certificate.

    Tokens usually hold only the end-entity certificate: ``chain_pem`` gives the issuing CA
    certificates up to the trust root, which are stored with the identity.
    """
    _require_admin(actor)
    organization = _sealing_organization(session, organization_id)
    token_label, key_label = token_label.strip(), key_label.strip()
    if not token_label or not key_label or len(token_label) > 120 or len(key_label) > 120:
        raise Invalid("请填写令牌标签与密钥标签（各不超过 120 个字符）", "Give the token label and the key label")
    library = _token_library(settings)
    from signing.token import token_signer

    try:
        with token_signer(library, token_label, settings.pkcs11_pin, key_label=key_label) as signer:
            assert signer.signing_cert is not None
            certificate = x509.load_der_x509_certificate(signer.signing_cert.dump())
    except TokenUnavailable as problem:
        raise ServiceUnavailable(problem.zh, problem.en) from problem
    except SigningProblem as problem:
        raise Invalid(problem.zh, problem.en) from problem
    intermediates = trust.read_pem_certificates(chain_pem) if chain_pem.strip() else []
    chain = trust.check_chain(certificate, intermediates, trust.trust_roots(settings))
    identity = _new_identity(
        session, organization, certificate, chain, fingerprint=_fingerprint(certificate), kind=PKCS11
    )
    identity.token_label = token_label
    identity.key_label = key_label
    return _activate(session, actor, organization, identity)


def deactivate(session: Session, actor: Principal | None, identity_id: int) -> SigningIdentity:
    """Stop using an identity (it stays listed, and its past signatures stay valid)."""
    _require_admin(actor)
    identity = session.get(SigningIdentity, identity_id)
    if identity is None:
        raise NotFound("没有该签章证书", "no such signing certificate")
    if identity.active:
        identity.active = False
        session.flush()
        _audit(session, actor, "signing_identity.deactivate", identity, f"停用签章证书 {identity.subject}")
    return identity


def active_identity(session: Session, organization_id: int) -> SigningIdentity | None:
    return session.scalars(
        select(SigningIdentity)
        .where(SigningIdentity.organization_id == organization_id, SigningIdentity.active.is_(True))
        .order_by(SigningIdentity.id.desc())
        .limit(1)
    ).first()


def list_identities(session: Session) -> list[SigningIdentity]:
    return list(session.scalars(select(SigningIdentity).order_by(SigningIdentity.organization_id, SigningIdentity.id)))


@contextmanager
def open_signer(settings: Settings, identity: SigningIdentity) -> Iterator[signers.Signer]:
    """A pyHanko signer for the identity; for a token the session is closed on exit.

    The certificate's validity is checked again: it may have expired since the import. Errors of
    the caller's block pass through unchanged.
    """
    with ExitStack() as stack:
        try:
            if identity.kind == PKCS12:
                assert identity.pkcs12_sealed is not None
                data, password = vault.open_bundle(
                    settings.effective_signing_key, identity.fingerprint_sha256, identity.pkcs12_sealed
                )
                signer: signers.Signer = signer_from_pkcs12(data, password)
            else:
                from signing.token import token_signer

                chain = [
                    cert.public_bytes(serialization.Encoding.DER)
                    for cert in trust.read_pem_certificates(identity.certificate_pem.encode("ascii"))[1:]
                ]
                signer = stack.enter_context(
                    token_signer(
                        _token_library(settings),
                        identity.token_label or "",
                        settings.pkcs11_pin,
                        key_label=identity.key_label or "",
                        chain=chain,
                    )
                )
        except TokenUnavailable as problem:
            raise ServiceUnavailable(problem.zh, problem.en) from problem
        except SigningProblem as problem:
            raise Invalid(problem.zh, problem.en) from problem
        yield signer


# Helpers ---------------------------------------------------------------------------------------


def _require_admin(actor: Principal | None) -> None:
    if actor is not None and not actor.is_admin:
        raise Forbidden("只有系统管理员可以管理签章证书", "only administrators manage signing certificates")


def _sealing_organization(session: Session, organization_id: int) -> Organization:
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("没有该单位", "no such organisation")
    if organization.kind not in SEALING_KINDS:
        raise Invalid(
            f"{organization.name}不是签章单位（审查机构、主管部门或住建局）",
            f"{organization.name} does not seal results (review agency, department or bureau)",
        )
    return organization


def _token_library(settings: Settings) -> str:
    if settings.pkcs11_module is None:
        raise Invalid(
            "未配置 PKCS#11 模块（LIANTU_PKCS11_MODULE），无法使用令牌",
            "No PKCS#11 module is configured (LIANTU_PKCS11_MODULE); tokens cannot be used",
        )
    return str(settings.pkcs11_module)


def _fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


def _new_identity(
    session: Session,
    organization: Organization,
    certificate: x509.Certificate,
    chain: list[x509.Certificate],
    *,
    fingerprint: str,
    kind: str,
) -> SigningIdentity:
    existing = session.scalar(select(SigningIdentity).where(SigningIdentity.fingerprint_sha256 == fingerprint))
    if existing is not None:
        raise Conflict("该证书已导入", "This certificate has already been imported")
    pem = b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in [certificate, *chain])
    return SigningIdentity(
        organization_id=organization.id,
        kind=kind,
        certificate_pem=pem.decode("ascii"),
        subject=certificate.subject.rfc4514_string()[:500],
        fingerprint_sha256=fingerprint,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        active=True,
    )


def _activate(
    session: Session, actor: Principal | None, organization: Organization, identity: SigningIdentity
) -> SigningIdentity:
    session.execute(
        update(SigningIdentity)
        .where(SigningIdentity.organization_id == organization.id, SigningIdentity.active.is_(True))
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    session.add(identity)
    session.flush()
    _audit(session, actor, "signing_identity.import", identity, f"{organization.name} 导入签章证书 {identity.subject}")
    return identity


def _audit(session: Session, actor: Principal | None, action: str, identity: SigningIdentity, summary: str) -> None:
    audit.record(
        session,
        actor_id=actor.user_id if actor else None,
        actor_name=actor.username if actor else "system",
        action=action,
        object_type="signing_identity",
        object_id=identity.id,
        summary=summary,
    )


def days_left(identity: SigningIdentity, now: dt.datetime | None = None) -> int | None:
    """Days until the certificate expires (negative once expired), for the admin page."""
    if identity.not_after is None:
        return None
    end = identity.not_after if identity.not_after.tzinfo else identity.not_after.replace(tzinfo=dt.UTC)
    return (end - (now or dt.datetime.now(dt.UTC))).days
