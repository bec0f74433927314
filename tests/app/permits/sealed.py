"""A sealed submission made the way the platform makes one: stored originals and sheet PDFs, a result
composed with its manifest, sealed by three departments of the test PKI, kept in the object store,
with its ReviewResult and ResultSignature rows. Also the bureau's seal from the same PKI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pymupdf
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.permits import BureauSeal
from app.platform import Platform
from app.seed import BUREAU, CIVIL_AIR_DEFENCE_OFFICE, CONSTRUCTION_SECTION, DESIGN_INSTITUTE, FIRE_DEPARTMENT
from signing.compose import ApprovedSheet, ResultData, TrackConclusion, compose_and_prepare, seal_slots
from signing.pki import Organisation, issue_signing_pkcs12, signer_from_pkcs12
from signing.seal import SealSpec, draw_round_seal
from signing.sign import SignatureRole, sign
from storage.db import transaction
from storage.models import (
    DrawingFile,
    Organization,
    Project,
    ResultSignature,
    ReviewResult,
    Round,
    Sheet,
    SheetRevision,
    Submission,
    SubmissionState,
    utcnow,
)
from tests.support.pki import SigningPki

FIELDS = ("fire", "civil_defence", "construction")
ORGANISATIONS = (FIRE_DEPARTMENT, CIVIL_AIR_DEFENCE_OFFICE, CONSTRUCTION_SECTION)
ROLES = (SignatureRole.FIRST_CERTIFY, SignatureRole.APPROVE, SignatureRole.LAST_LOCK)


@dataclass(frozen=True)
class SealedCase:
    """What a test needs to know about the sealed submission."""

    submission_id: int
    result_id: int
    review_number: str
    project_code: str
    final: bytes
    revisions: tuple[bytes, ...]
    original_key: str
    sheet_key: str


def sheet_pdf(number: str) -> bytes:
    doc = pymupdf.open()
    page = doc.new_page(width=842, height=595)
    page.draw_rect(pymupdf.Rect(20, 20, 822, 575), color=(0, 0, 0), width=1.2)
    page.draw_line((60, 100), (780, 500), width=0.5)
    page.insert_text((600, 560), f"图号 {number}", fontname="china-s", fontsize=12)
    data = doc.tobytes()
    doc.close()
    return data


def write_trust_root(test_pki: SigningPki, folder: Path) -> Path:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "root.pem"
    path.write_bytes(x509.load_der_x509_certificate(test_pki.pki.root_certificate).public_bytes(Encoding.PEM))
    return path


def _org_id(db: Session, name: str) -> int:
    found = db.scalar(select(Organization.id).where(Organization.name == name))
    assert found is not None, name
    return found


@dataclass(frozen=True)
class SealedFiles:
    """The bytes of a sealed case, made once per module (three signatures take a few seconds)."""

    review_number: str
    project_code: str
    project_name: str
    original: bytes
    revisions: tuple[bytes, ...]
    prepared: bytes
    """The composed result with its empty signature fields, before any seal."""


_made: dict[tuple[object, ...], SealedFiles] = {}


def seal_files(
    test_pki: SigningPki,
    public_url: str,
    *,
    project_code: str = "2026-420100-47-01-000321",
    review_number: str = "LT-2026-000321",
    signed: int = 3,
) -> SealedFiles:
    """Compose the result of one sheet and let ``signed`` departments seal it in order (once per test run)."""
    key = (id(test_pki), public_url, project_code, review_number)
    if key in _made:
        made = _made[key]
        return dataclasses.replace(made, revisions=made.revisions[:signed])
    number = "建施-01"
    original = sheet_pdf(number)
    original_sha = hashlib.sha256(original).hexdigest()
    day = dt.date(2026, 11, 20)
    data = ResultData(
        project_name="江城市第一中学新校区教学楼",
        project_code=project_code,
        address="江城市学府路 88 号",
        building_use="教育建筑",
        floors_above=6,
        floors_below=1,
        height_m=23.85,
        gross_floor_area_m2=18650.4,
        fire_resistance_rating="一级",
        civil_air_defence_area_m2=3120.0,
        review_number=review_number,
        issued_on=day,
        construction_unit="江城市教育局",
        design_institute=DESIGN_INSTITUTE,
        tracks=(
            TrackConclusion("消防审查", "Fire protection", "合格", ("赵磊",), "钱伟", day, 1),
            TrackConclusion("人防审查", "Civil air defence", "合格", ("孙丽",), "周强", day, 1),
            TrackConclusion("施工图审查", "Construction drawing review", "合格", ("吴静",), "郑浩", day, 1),
        ),
        verification_url=f"{public_url}/verify/{review_number}",
    )
    # A PDF original is its own sheet PDF, as intake makes it.
    sheets = [ApprovedSheet(number, "一层平面图", 1, original_sha, original_sha, original)]
    slots = seal_slots(list(zip(FIELDS, ORGANISATIONS, strict=True)))
    pdf = prepared = compose_and_prepare(data, sheets, slots)
    revisions = []
    for index in range(3):
        pdf = sign(
            pdf,
            field_name=FIELDS[index],
            signer=test_pki.signer(FIELDS[index]),
            seal_png=test_pki.seal(FIELDS[index]),
            role=ROLES[index],
            timestamper_url=None if index == 0 else test_pki.timestamp_url,
            trust_roots=test_pki.trust_roots,
        )
        revisions.append(pdf)
    _made[key] = SealedFiles(review_number, project_code, data.project_name, original, tuple(revisions), prepared)
    return dataclasses.replace(_made[key], revisions=tuple(revisions[:signed]))


def make_sealed_submission(platform: Platform, files: SealedFiles) -> SealedCase:
    """Store the files and record the submission (SEALED, or SEALING when not every department signed)."""
    store = platform.store
    number = "建施-01"
    review_number, project_code = files.review_number, files.project_code
    original = files.original
    original_info = store.put_original(io.BytesIO(original), content_type="application/pdf")
    sheet_sha = hashlib.sha256(original).hexdigest()
    sheet_key = f"sheets/{review_number}/{sheet_sha}.pdf"
    store.put_stream(sheet_key, io.BytesIO(original), content_type="application/pdf")
    revisions = list(files.revisions)
    signed = len(revisions)
    pdf = revisions[-1] if revisions else files.prepared
    final_sha = hashlib.sha256(pdf).hexdigest()
    prepared_key = f"results/{review_number}/r0-{hashlib.sha256(files.prepared).hexdigest()}.pdf"
    store.put_stream(prepared_key, io.BytesIO(files.prepared), content_type="application/pdf")
    keys = []
    for index, revision in enumerate(revisions):
        digest = hashlib.sha256(revision).hexdigest()
        key = f"results/{review_number}/r{index + 1}-{digest}.pdf"
        store.put_stream(key, io.BytesIO(revision), content_type="application/pdf")
        keys.append((key, digest))
    with transaction(platform.sessions) as db:
        designer_org = _org_id(db, DESIGN_INSTITUTE)
        project = Project(
            organization_id=designer_org,
            code=project_code,
            name=files.project_name,
            construction_unit="江城市教育局",
            address="江城市学府路 88 号",
            building_use="教育建筑",
            floors_above=6,
            floors_below=1,
            height_m=23.85,
            gross_floor_area_m2=18650.4,
        )
        db.add(project)
        db.flush()
        state = SubmissionState.SEALED if signed == 3 else SubmissionState.SEALING
        submission = Submission(project_id=project.id, review_number=review_number, state=state)
        db.add(submission)
        db.flush()
        round_ = Round(submission_id=submission.id, number=1)
        db.add(round_)
        db.flush()
        drawing = DrawingFile(
            submission_id=submission.id,
            round_id=round_.id,
            sha256=original_info.sha256,
            size=len(original),
            original_name="建施-01.pdf",
            media_type="application/pdf",
            object_key=original_info.key,
            status="stored",
        )
        db.add(drawing)
        db.flush()
        sheet = Sheet(submission_id=submission.id, number=number, title="一层平面图")
        db.add(sheet)
        db.flush()
        revision_row = SheetRevision(
            sheet_id=sheet.id, round_id=round_.id, drawing_file_id=drawing.id, pdf_key=sheet_key, status="ready"
        )
        db.add(revision_row)
        db.flush()
        result = ReviewResult(
            submission_id=submission.id,
            state="sealed" if signed == 3 else "signing",
            object_key=keys[-1][0] if keys else prepared_key,
            sha256=final_sha,
            signing_order=list(FIELDS),
            manifest=[
                {
                    "number": number,
                    "title": "一层平面图",
                    "round": 1,
                    "original_sha256": original_info.sha256,
                    "sheet_sha256": sheet_sha,
                    "sheet_revision_id": revision_row.id,
                }
            ],
            sealed_at=utcnow() if signed == 3 else None,
        )
        db.add(result)
        db.flush()
        for position, (field_name, org_name) in enumerate(zip(FIELDS, ORGANISATIONS, strict=True)):
            done = position < signed
            db.add(
                ResultSignature(
                    result_id=result.id,
                    position=position,
                    field_name=field_name,
                    organization_id=_org_id(db, org_name),
                    signed_at=utcnow() if done else None,
                    object_key=keys[position][0] if done else None,
                    sha256=keys[position][1] if done else None,
                )
            )
        return SealedCase(
            submission.id,
            result.id,
            review_number,
            project_code,
            pdf,
            tuple(revisions),
            original_info.key,
            sheet_key,
        )


def bureau_bundle(test_pki: SigningPki) -> bytes:
    """A PKCS#12 for the demo bureau, issued by the test PKI's issuing CA (password ``test_pki.password``)."""
    now = dt.datetime.now(dt.UTC)
    return issue_signing_pkcs12(
        test_pki.pki.issuing_pkcs12,
        test_pki.password,
        Organisation(BUREAU, BUREAU, "施工许可", "bureau"),
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=365),
        crl_url=f"{test_pki.crl_base_url}/issuing.crl",
    )


def bureau_seal_source(test_pki: SigningPki):  # type: ignore[no-untyped-def]
    """A seal source for the demo bureau that needs no stored identity."""
    bundle = bureau_bundle(test_pki)
    seal = draw_round_seal(SealSpec(BUREAU, "行政审批专用章", dpi=150))

    @contextmanager
    def source(session: Session, organization: Organization) -> Iterator[BureauSeal]:
        assert organization.name == BUREAU
        yield BureauSeal(signer_from_pkcs12(bundle, test_pki.password), seal)

    return source
