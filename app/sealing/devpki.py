"""The development PKI (开发用证书体系) behind ``liantu pki init`` and the demo.

:func:`init_dev_pki` writes, into a folder (default ``<data_dir>/pki``): the root CA (``root.pem``,
the trust root), the issuing CA (``issuing.pem`` and ``issuing.p12``), the timestamp authority
(``tsa.p12``) and the bundles' random password (``password``, readable by the owner only). It gives
every department and the bureau in the database a signing certificate, imported as their active
identity, and the red round seal when they have none. A second run reuses the folder's CAs and only
adds what is missing, so ``make run`` may call it every time.

:func:`start_dev_tsa` runs the folder's timestamp authority on loopback, for ``liantu run`` in
development when ``LIANTU_TSA_URL`` is empty. None of this is for production: there, real
certificates are imported and an accredited TSA is configured.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Invalid
from app.sealing import identities, seals, trust
from app.settings import Mode, Settings
from signing.pki import Organisation, generate_dev_pki, issue_signing_pkcs12
from signing.tsa import TimestampServer
from storage.blobstore.base import BlobStore
from storage.models import Organization, OrgKind, SigningIdentity

SIGNING_KINDS = (OrgKind.DEPARTMENT, OrgKind.BUREAU)
"""Organisations that get a development signing certificate."""
VALIDITY = dt.timedelta(days=730)
PURPOSES = {OrgKind.DEPARTMENT: seals.DEFAULT_PURPOSE, OrgKind.BUREAU: "行政审批专用章"}


@dataclass
class DevPkiReport:
    """What :func:`init_dev_pki` did."""

    directory: Path
    """The folder holding the CAs and the TSA."""
    created: bool
    """Whether the CAs were generated now (False: reused)."""
    identities: list[str] = field(default_factory=list)
    """Organisations that received a signing certificate now."""
    seals: list[str] = field(default_factory=list)
    """Organisations that received a generated seal now."""


def init_dev_pki(session: Session, store: BlobStore, settings: Settings, directory: Path | None = None) -> DevPkiReport:
    """Create (or reuse) the development PKI and give every sealing organisation an identity and a seal."""
    if settings.mode is not Mode.DEVELOPMENT:
        raise RuntimeError("开发用证书体系只能在开发模式下创建 / the development PKI is for development mode only")
    folder = directory or trust.dev_pki_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    created = not (folder / trust.DEV_ROOT_FILE).is_file()
    if created:
        _write_new_pki(folder)
    password = (folder / "password").read_bytes()
    issuing_p12 = (folder / "issuing.p12").read_bytes()
    roots = trust.read_pem_certificates((folder / trust.DEV_ROOT_FILE).read_bytes())
    report = DevPkiReport(folder, created)
    organizations = session.scalars(
        select(Organization).where(Organization.kind.in_(SIGNING_KINDS)).order_by(Organization.id)
    ).all()
    now = dt.datetime.now(dt.UTC)
    for organization in organizations:
        identity = identities.active_identity(session, organization.id)
        if identity is None or not _issued_by(identity, roots) or _expired(identity, now):
            bundle = issue_signing_pkcs12(
                issuing_p12,
                password,
                Organisation(organization.name, organization.name, "电子签章", f"org{organization.id}"),
                not_before=now - dt.timedelta(minutes=5),
                not_after=now + VALIDITY,
            )
            identities.import_pkcs12(
                session,
                settings,
                None,
                organization.id,
                data=bundle,
                password=password.decode("ascii"),
                roots=roots,
            )
            report.identities.append(organization.name)
        if seals.active_seal(session, organization.id) is None:
            seals.generate_seal(session, store, None, organization.id, purpose=PURPOSES[organization.kind])
            report.seals.append(organization.name)
    return report


def start_dev_tsa(settings: Settings, directory: Path | None = None) -> TimestampServer | None:
    """Start the development TSA on a free loopback port, or None when there is no development PKI."""
    folder = directory or trust.dev_pki_dir(settings)
    if settings.mode is not Mode.DEVELOPMENT or not (folder / "tsa.p12").is_file():
        return None
    server = TimestampServer()
    server.configure((folder / "tsa.p12").read_bytes(), (folder / "password").read_bytes())
    server.start()
    return server


def _write_new_pki(folder: Path) -> None:
    password = secrets.token_urlsafe(24).encode("ascii")
    pki = generate_dev_pki([], password=password, validity=VALIDITY, tsa_validity=VALIDITY * 5)
    _write(folder / "password", password)
    _write(folder / "issuing.p12", pki.issuing_pkcs12)
    _write(folder / "tsa.p12", pki.tsa_pkcs12)
    _write(folder / "issuing.pem", _pem(pki.issuing_certificate))
    # The root last: its presence marks the folder complete.
    _write(folder / trust.DEV_ROOT_FILE, _pem(pki.root_certificate))


def _pem(certificate_der: bytes) -> bytes:
    return x509.load_der_x509_certificate(certificate_der).public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _issued_by(identity: SigningIdentity, roots: list[x509.Certificate]) -> bool:
    certificates = trust.read_pem_certificates(identity.certificate_pem.encode("ascii"))
    try:
        trust.check_chain(certificates[0], certificates[1:], roots)
    except Invalid:
        return False
    return True


def _expired(identity: SigningIdentity, now: dt.datetime) -> bool:
    end = identity.not_after
    if end is None:
        return False
    return (end if end.tzinfo else end.replace(tzinfo=dt.UTC)) < now
