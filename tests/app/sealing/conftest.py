"""A passed submission ready for sealing: departments with identities and seals, one approved sheet.

The signing identities come from the session's test PKI (tests/support/pki.py), whose loopback TSA
stamps every signature.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import pymupdf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.identity.principal import Principal
from app.sealing import identities, seals
from app.settings import Settings, load_settings
from app.tracks import CIVIL_AIR_DEFENCE, CONSTRUCTION, FIRE, ensure_tracks
from storage.blobstore.local import LocalBlobStore
from storage.models import (
    DrawingFile,
    Organization,
    OrgKind,
    Project,
    Role,
    RoleGrant,
    Round,
    Sheet,
    SheetRevision,
    Submission,
    SubmissionState,
    TrackReview,
    TrackReviewer,
    TrackReviewState,
    User,
)
from tests.support.pki import SigningPki

PKI_SLUGS = {FIRE: "fire", CIVIL_AIR_DEFENCE: "civil_defence", CONSTRUCTION: "construction"}
DEPARTMENT_NAMES = {
    FIRE: "江城市消防救援支队",
    CIVIL_AIR_DEFENCE: "江城市人民防空办公室",
    CONSTRUCTION: "江城市住建局勘察设计科",
}
ADMIN = Principal(999, "admin", "系统管理员", 999, OrgKind.PLATFORM, "平台运维", frozenset({(Role.ADMIN, None)}))


@pytest.fixture(scope="session")
def trust_root_file(tmp_path_factory: pytest.TempPathFactory, test_pki: SigningPki) -> Path:
    path = tmp_path_factory.mktemp("trust") / "root.pem"
    certificate = x509.load_der_x509_certificate(test_pki.pki.root_certificate)
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def sealing_settings(data_dir: Path, trust_root: Path, tsa_url: str) -> Settings:
    return load_settings(
        {
            "LIANTU_DATA_DIR": str(data_dir),
            "LIANTU_SECRET_KEY": "sealing-test-secret-key-0123456789abcdef",
            "LIANTU_TRUST_ROOTS": str(trust_root),
            "LIANTU_TSA_URL": tsa_url,
            "LIANTU_PUBLIC_URL": "https://liantu.example.cn",
        }
    )


@pytest.fixture
def settings(tmp_path: Path, trust_root_file: Path, test_pki: SigningPki) -> Settings:
    return sealing_settings(tmp_path / "data", trust_root_file, test_pki.timestamp_url)


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "objects")


@dataclass
class Case:
    """The stored passed submission and who acts on it."""

    submission_id: int
    departments: dict[str, int]
    """Organisation id by track code."""
    signers: dict[str, Principal]
    """A signer of each department, by track code."""
    designer_org: int


def signer_principal(user: User, organization: Organization, track: str) -> Principal:
    return Principal(
        user.id,
        user.username,
        user.display_name,
        organization.id,
        organization.kind,
        organization.name,
        frozenset({(Role.DEPARTMENT_SIGNER, track)}),
    )


def sheet_pdf(number: str) -> bytes:
    doc = pymupdf.open()
    page = doc.new_page(width=1190, height=842)
    page.draw_rect(pymupdf.Rect(20, 20, 1170, 822), color=(0, 0, 0), width=1)
    page.insert_text((60, 80), f"Sheet {number}", fontsize=24)
    data: bytes = doc.tobytes()
    doc.close()
    return data


def add_signer(session: Session, organization: Organization, track: str, username: str, name: str) -> Principal:
    user = User(organization_id=organization.id, username=username, display_name=name, password_hash="x")
    session.add(user)
    session.flush()
    session.add(RoleGrant(user_id=user.id, role=Role.DEPARTMENT_SIGNER, track_code=track))
    session.flush()
    return signer_principal(user, organization, track)


def _organization(session: Session, name: str, kind: OrgKind, code: str | None = None) -> Organization:
    found = session.scalar(select(Organization).where(Organization.name == name))
    if found is None:
        found = Organization(name=name, kind=kind, department_code=code)
        session.add(found)
        session.flush()
    return found


def _existing_signer(session: Session, organization: Organization, track: str) -> Principal | None:
    user = session.scalars(
        select(User)
        .join(RoleGrant, RoleGrant.user_id == User.id)
        .where(User.organization_id == organization.id, RoleGrant.role == Role.DEPARTMENT_SIGNER)
        .order_by(User.id)
    ).first()
    return signer_principal(user, organization, track) if user else None


def build_case(
    session: Session, store: LocalBlobStore, settings: Settings, test_pki: SigningPki, *, with_identities: bool = True
) -> Case:
    """Organisations, users, a project and a submission whose three tracks passed in round 2.

    Organisations and signers that exist already (the seeded demo) are used as they are.
    """
    ensure_tracks(session)
    institute = _organization(session, "江城市建筑设计研究院", OrgKind.DESIGN_INSTITUTE)
    agency = _organization(session, "江城市施工图审查中心", OrgKind.REVIEW_AGENCY)
    departments: dict[str, Organization] = {}
    for code, name in DEPARTMENT_NAMES.items():
        existing = session.scalars(
            select(Organization).where(Organization.kind == OrgKind.DEPARTMENT, Organization.department_code == code)
        ).first()
        departments[code] = existing or _organization(session, name, OrgKind.DEPARTMENT, code)
    session.flush()
    reviewer = User(organization_id=agency.id, username="case.reviewer", display_name="赵磊", password_hash="x")
    lead = User(organization_id=agency.id, username="case.lead", display_name="钱伟", password_hash="x")
    session.add_all([reviewer, lead])
    session.flush()
    signers = {
        code: _existing_signer(session, org, code) or add_signer(session, org, code, f"{code}.signer", f"签章人{index}")
        for index, (code, org) in enumerate(departments.items(), 1)
    }
    project = Project(
        organization_id=institute.id,
        code="2026-320100-47-01-000123",
        name="江城市滨江小学新建工程",
        construction_unit="江城市滨江区教育局",
        address="江城市滨江区滨江大道 88 号",
        building_use="教育建筑",
        floors_above=4,
        floors_below=1,
        height_m=18.6,
        gross_floor_area_m2=15234.5,
        fire_resistance_rating="一级",
        civil_air_defence_area_m2=1200.0,
    )
    session.add(project)
    session.flush()
    submission = Submission(project_id=project.id, review_number="JC-SG-2026-0042", state=SubmissionState.PASSED)
    session.add(submission)
    session.flush()
    rounds = [Round(submission_id=submission.id, number=n) for n in (1, 2)]
    session.add_all(rounds)
    session.flush()
    concluded = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    for code in departments:
        for round_, state in zip(rounds, (TrackReviewState.REVISE, TrackReviewState.PASSED), strict=True):
            review = TrackReview(
                round_id=round_.id, track_code=code, state=state, concluded_at=concluded, concluded_by_id=lead.id
            )
            review.reviewers.append(TrackReviewer(user_id=reviewer.id))
            session.add(review)
    for index, number in enumerate(("建施-01", "建施-02")):
        pdf = sheet_pdf(number)
        info = store.put_original(io.BytesIO(pdf), content_type="application/pdf")
        drawing = DrawingFile(
            submission_id=submission.id,
            sha256=info.sha256,
            size=info.size,
            original_name=f"{number}.pdf",
            media_type="application/pdf",
            object_key=info.key,
        )
        session.add(drawing)
        sheet = Sheet(submission_id=submission.id, number=number, title=f"平面图 {index + 1}")
        session.add(sheet)
        session.flush()
        key = f"derived/sheets/{info.sha256}/0.pdf"
        store.put_stream(key, io.BytesIO(pdf), content_type="application/pdf")
        session.add(SheetRevision(sheet_id=sheet.id, round_id=rounds[-1].id, drawing_file_id=drawing.id, pdf_key=key))
    session.flush()
    if with_identities:
        for code, org in departments.items():
            identities.import_pkcs12(
                session,
                settings,
                ADMIN,
                org.id,
                data=test_pki.pki.signers[PKI_SLUGS[code]],
                password=test_pki.password.decode(),
            )
            seals.upload_seal(session, store, ADMIN, org.id, png=test_pki.seal(PKI_SLUGS[code]), purpose="")
    return Case(submission.id, {code: org.id for code, org in departments.items()}, signers, institute.id)


@pytest.fixture
def case(
    session_factory: sessionmaker[Session], store: LocalBlobStore, settings: Settings, test_pki: SigningPki
) -> Case:
    with session_factory() as session, session.begin():
        return build_case(session, store, settings, test_pki)
