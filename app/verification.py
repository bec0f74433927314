"""Verification of sealed results (签章验证), for the bureau and on the public page.

The verdict on the signatures is :func:`signing.verify.verify` (pyHanko with difference analysis),
the same ``liantu verify`` gives. Around it the platform adds what only it knows:

- whether every signature field is filled (a result that not every department sealed is not a result);
- for the bureau, whether the drawing manifest recorded with the result (``ReviewResult.manifest``)
  still matches the stored originals and sheet PDFs, byte for byte (SHA-256 of the objects);
- whether an uploaded file is one of the revisions the platform stored.

Every verification is kept as a :class:`storage.models.Verification` row with the full report.
A file that cannot be parsed is a rejection with a reason, never an error page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app import audit, policy
from app.commands.verify import verdict_json
from app.errors import Forbidden, Invalid, NotFound
from app.identity.principal import Principal
from app.policy import Action
from app.sealing.trust import trust_roots_der
from app.settings import Settings
from signing.verify import Reason, Verdict, verify
from storage.blobstore import BlobStore
from storage.errors import BlobNotFound
from storage.models import (
    DrawingFile,
    ResultSignature,
    ReviewResult,
    Role,
    Sheet,
    SheetRevision,
    Submission,
    Verification,
    utcnow,
)

PDF_MAGIC = b"%PDF-"
HASH_CHUNK = 1024 * 1024


# Trust roots ------------------------------------------------------------------------------------


def trust_roots(settings: Settings) -> list[bytes]:
    """The configured trust roots (``LIANTU_TRUST_ROOTS``, and the development root in development), DER."""
    return trust_roots_der(settings)


# Uploaded files ---------------------------------------------------------------------------------


def accept_pdf(data: bytes, *, max_bytes: int) -> None:
    """Refuse what is not worth validating: empty, too large, or not a PDF at all."""
    if not data:
        raise Invalid("文件为空。", "The file is empty.")
    if len(data) > max_bytes:
        mb = max_bytes // (1024 * 1024)
        raise Invalid(f"文件超过 {mb} MB，无法验证。", f"The file is larger than {mb} MB and cannot be verified.")
    if PDF_MAGIC not in data[:1024]:
        raise Invalid("只能验证 PDF 文件。", "Only PDF files can be verified.")


# Reports ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestProblem:
    """One sheet whose recorded hash no longer matches what is stored."""

    sheet: str
    """Sheet number (图号) from the manifest."""
    reason: Reason
    """What does not match."""


@dataclass(frozen=True)
class Outcome:
    """A finished verification: the stored row and what the pages show."""

    verification: Verification
    """The stored row (its ``report`` is the full JSON report)."""
    verdict: Verdict
    """The signature verdict."""
    valid: bool
    """Signatures valid, every field signed and (for the bureau) the manifest intact."""
    reasons: tuple[Reason, ...]
    """Every reason the document is not valid, document-level first."""
    result: ReviewResult | None
    """The platform's record this file belongs to, if any."""
    matches_record: bool
    """The file is byte for byte one of the revisions the platform stored."""


def _reason(code: str, zh: str, en: str) -> Reason:
    return Reason(code, zh, en)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stored_sha256(store: BlobStore, key: str) -> str | None:
    """SHA-256 of a stored object's bytes, or None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with store.open(key) as stream:
            while chunk := stream.read(HASH_CHUNK):
                digest.update(chunk)
    except BlobNotFound:
        return None
    return digest.hexdigest()


def check_manifest(session: Session, store: BlobStore, result: ReviewResult) -> list[ManifestProblem]:
    """Compare every manifest entry with the stored original and sheet PDF (their bytes, re-hashed)."""
    problems: list[ManifestProblem] = []
    if not result.manifest:
        return [
            ManifestProblem(
                "",
                _reason("manifest_empty", "联审结果没有图纸目录记录", "The result has no recorded drawing manifest"),
            )
        ]
    for entry in result.manifest:
        number = str(entry.get("number", ""))
        original = str(entry.get("original_sha256", ""))
        sheet_pdf = str(entry.get("sheet_sha256", ""))
        drawing = session.scalars(
            select(DrawingFile).where(DrawingFile.submission_id == result.submission_id, DrawingFile.sha256 == original)
        ).first()
        if drawing is None:
            problems.append(
                ManifestProblem(
                    number,
                    _reason(
                        "original_missing",
                        f"图纸 {number} 的原始文件不在本报审的存档中",
                        f"The original of sheet {number} is not among the submission's stored files",
                    ),
                )
            )
        elif _stored_sha256(store, drawing.object_key) != original:
            problems.append(
                ManifestProblem(
                    number,
                    _reason(
                        "original_changed",
                        f"图纸 {number} 的原始文件与目录中的 SHA-256 不符",
                        f"The stored original of sheet {number} does not match its SHA-256 in the manifest",
                    ),
                )
            )
        if not _sheet_pdf_matches(session, store, result.submission_id, entry, sheet_pdf):
            problems.append(
                ManifestProblem(
                    number,
                    _reason(
                        "sheet_pdf_changed",
                        f"图纸 {number} 的图纸 PDF 缺失或与目录中的 SHA-256 不符",
                        f"The sheet PDF of sheet {number} is missing or does not match its SHA-256 in the manifest",
                    ),
                )
            )
    return problems


def _sheet_pdf_matches(
    session: Session, store: BlobStore, submission_id: int, entry: dict[str, Any], expected: str
) -> bool:
    revision_id = entry.get("sheet_revision_id")
    if isinstance(revision_id, int):
        candidates: Sequence[SheetRevision] = [r for r in [session.get(SheetRevision, revision_id)] if r is not None]
    else:
        candidates = session.scalars(
            select(SheetRevision)
            .join(Sheet, Sheet.id == SheetRevision.sheet_id)
            .where(Sheet.submission_id == submission_id, Sheet.number == str(entry.get("number", "")))
            .order_by(SheetRevision.id.desc())
        ).all()
    return any(r.pdf_key and _stored_sha256(store, r.pdf_key) == expected for r in candidates)


def _document_reasons(verdict: Verdict) -> list[Reason]:
    reasons = []
    if verdict.unsigned_fields and verdict.signatures:
        names = "、".join(verdict.unsigned_fields)
        reasons.append(
            _reason(
                "incomplete",
                f"尚有签章域未签署：{names}",
                f"Not every department has sealed yet; unsigned fields: {', '.join(verdict.unsigned_fields)}",
            )
        )
    return reasons


def _record_of(session: Session, sha256: str, data: bytes) -> tuple[ReviewResult | None, bool]:
    """The stored result this file is a revision of (by hash), else the one its metadata names."""
    result = session.scalars(select(ReviewResult).where(ReviewResult.sha256 == sha256)).first()
    if result is None:
        result_id = session.scalar(select(ResultSignature.result_id).where(ResultSignature.sha256 == sha256).limit(1))
        result = session.get(ReviewResult, result_id) if result_id is not None else None
    if result is not None:
        return result, True
    number = _review_number_in(data)
    if number:
        result = session.scalars(
            select(ReviewResult)
            .join(Submission, Submission.id == ReviewResult.submission_id)
            .where(Submission.review_number == number)
        ).first()
    return result, False


def _review_number_in(data: bytes) -> str | None:
    """The review number the document's metadata states (first keyword), if it can be read."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        info = PdfFileReader(io.BytesIO(data), strict=False).trailer_view.get("/Info")
        keywords = str(info.get_object().get("/Keywords", "")) if info is not None else ""
    except Exception:  # noqa: BLE001 - hostile metadata just means "no record"
        return None
    first = keywords.split(",")[0].strip()
    return first[:40] or None


def _run(
    session: Session,
    data: bytes,
    roots: Sequence[bytes],
    *,
    name: str,
    result: ReviewResult | None,
    matches_record: bool,
    manifest: list[ManifestProblem] | None,
    who: Principal | None,
    public: bool,
) -> Outcome:
    verdict = verify(data, roots)
    reasons = list(verdict.reasons) + _document_reasons(verdict)
    reasons += [problem.reason for problem in manifest or ()]
    reasons += [r for s in verdict.signatures for r in s.reasons]
    reasons = list(dict.fromkeys(reasons))  # one line per kind of problem; the signatures keep their own
    valid = verdict.valid and not reasons
    report = verdict_json(name, verdict, list(roots))
    report.update(
        {
            "valid": valid,
            "status": "valid" if valid else report["status"],
            "reasons": [{"code": r.code, "zh": r.zh, "en": r.en} for r in reasons],
            "manifest_checked": manifest is not None,
            "manifest_problems": [
                {"sheet": p.sheet, "code": p.reason.code, "zh": p.reason.zh, "en": p.reason.en} for p in manifest or ()
            ],
            "result_id": result.id if result is not None else None,
            "matches_record": matches_record,
            "size": len(data),
        }
    )
    row = Verification(
        sha256=_sha256(data),
        result_id=result.id if result is not None else None,
        verdict="valid" if valid else ("unknown" if report["status"] == "unreadable" else "invalid"),
        report=report,
        verified_by_id=who.user_id if who is not None else None,
        public=public,
        at=utcnow(),
    )
    session.add(row)
    session.flush()
    if who is not None:
        audit.record(
            session,
            actor_id=who.user_id,
            actor_name=who.username,
            action="result.verify",
            object_type="verification",
            object_id=str(row.id),
            summary=f"{'有效' if valid else '无效'} ({'valid' if valid else 'invalid'}) sha256={row.sha256[:16]}…",
        )
    return Outcome(row, verdict, valid, tuple(reasons), result, matches_record)


# Use cases --------------------------------------------------------------------------------------


def result_of_submission(session: Session, submission_id: int) -> ReviewResult:
    result = session.scalars(select(ReviewResult).where(ReviewResult.submission_id == submission_id)).first()
    if result is None:
        raise NotFound("该报审还没有联审结果", "This submission has no joint review result yet")
    return result


def read_result(store: BlobStore, result: ReviewResult) -> bytes:
    with store.open(result.object_key) as stream:
        return stream.read()


def verify_stored_result(
    session: Session, store: BlobStore, who: Principal, submission_id: int, roots: Sequence[bytes]
) -> Outcome:
    """核验联审结果: the bureau verifies the stored result of a submission, manifest included."""
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    policy.require(who, Action.VERIFY, submission=submission)
    result = result_of_submission(session, submission_id)
    data = read_result(store, result)
    matches = _sha256(data) == result.sha256
    manifest = check_manifest(session, store, result)
    if not matches:
        manifest.append(
            ManifestProblem(
                "",
                _reason(
                    "stored_file_changed",
                    "存档的联审结果文件与记录的 SHA-256 不符",
                    "The stored result file does not match its recorded SHA-256",
                ),
            )
        )
    return _run(
        session,
        data,
        roots,
        name=f"{submission.review_number or submission.id}.pdf",
        result=result,
        matches_record=matches,
        manifest=manifest,
        who=who,
        public=False,
    )


def verify_upload(
    session: Session,
    store: BlobStore,
    data: bytes,
    roots: Sequence[bytes],
    *,
    name: str,
    max_bytes: int,
    who: Principal | None = None,
) -> Outcome:
    """验证上传的文件: anyone (``who`` None, the public page) or the bureau verifies a PDF they hold.

    The bureau's verification of a file the platform knows also checks the record's manifest; the
    public page never hashes stored objects on a visitor's request.
    """
    if who is not None:
        require_bureau(who)
    accept_pdf(data, max_bytes=max_bytes)
    result, matches = _record_of(session, _sha256(data), data)
    manifest = check_manifest(session, store, result) if who is not None and result is not None else None
    return _run(
        session,
        data,
        roots,
        name=name[:200],
        result=result,
        matches_record=matches,
        manifest=manifest,
        who=who,
        public=who is None,
    )


def require_bureau(who: Principal) -> None:
    if not who.has_role(Role.BUREAU_OFFICER):
        raise Forbidden("只有住建局经办人可以核验文件", "Only construction bureau officers verify files here")


def latest_verification(
    session: Session, result_id: int, *, public: bool | None = None, sha256: str | None = None
) -> Verification | None:
    """The newest verification of a result; with ``sha256``, only of that file (not of copies claiming it)."""
    query = select(Verification).where(Verification.result_id == result_id)
    if sha256 is not None:
        query = query.where(Verification.sha256 == sha256)
    if public is not None:
        query = query.where(Verification.public.is_(public))
    return session.scalars(query.order_by(Verification.at.desc(), Verification.id.desc()).limit(1)).first()


def get_verification(session: Session, who: Principal, verification_id: int) -> Verification:
    require_bureau(who)
    row = session.get(Verification, verification_id)
    if row is None:
        raise NotFound("没有该验证记录", "no such verification")
    return row


@dataclass(frozen=True)
class PublicRecord:
    """What the public page of a review number shows: only what the sealed document itself states."""

    review_number: str
    project_name: str
    project_code: str
    result: ReviewResult
    verification: Verification


def public_record(
    session: Session, store: BlobStore, review_number: str, roots: Sequence[bytes], *, max_age: dt.timedelta
) -> PublicRecord:
    """The sealed result of a review number with a verification at most ``max_age`` old (made now if needed)."""
    submission = session.scalars(select(Submission).where(Submission.review_number == review_number)).first()
    result = (
        session.scalars(select(ReviewResult).where(ReviewResult.submission_id == submission.id)).first()
        if submission is not None
        else None
    )
    if submission is None or result is None or result.state != "sealed":
        raise NotFound("没有该审查编号的已签章联审结果", "There is no sealed joint review result with this number")
    latest = session.scalars(
        select(Verification)
        .where(
            Verification.result_id == result.id,
            Verification.sha256 == result.sha256,
            or_(Verification.public.is_(True), Verification.verified_by_id.is_not(None)),
        )
        .order_by(Verification.at.desc(), Verification.id.desc())
        .limit(1)
    ).first()
    if latest is None or _aware(latest.at) < utcnow() - max_age:
        data = read_result(store, result)
        latest = _run(
            session,
            data,
            roots,
            name=f"{review_number}.pdf",
            result=result,
            matches_record=_sha256(data) == result.sha256,
            manifest=None,
            who=None,
            public=True,
        ).verification
    project = submission.project
    return PublicRecord(review_number, project.name, project.code, result, latest)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
