"""Intake step for ZIP archives (一窗受理): each PDF or DXF member becomes a drawing file of its own.

``drawing_file.process`` routes an original whose content is a ZIP archive here instead of splitting it:

1. *load*: the archive is copied from the store into a temporary file (ZIP is read from its end, and an
   S3 body cannot seek), its SHA-256 checked on the way.
2. *check* (:mod:`review.archives`): the directory is listed and every header checked; every drawing
   member is inflated once and hashed, so that a hostile or damaged archive is refused before anything
   is stored. A refused archive gets ``status = "rejected"`` and its bilingual finding; nothing else is made.
3. *store*: each drawing member is streamed into the store as an original of its own (``put_original``,
   with the SHA-256 found in step 2 as the expected one).
4. *record*, in one transaction: a DrawingFile per member not yet in the submission (named
   ``<archive>/<member path>``, its findings naming the archive), with ``drawing_file.verify`` and
   ``drawing_file.process`` queued after the commit; a member whose content the submission already has
   is a duplicate (ARCHIVE_MEMBER_DUPLICATE), not an error. The archive gets ``status = "expanded"``.

Idempotent: an archive already expanded or rejected is left as it is; stored originals are keyed by
content, so a run cut short after step 3 stores nothing twice when it runs again.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app import audit
from app.errors import Conflict, NotFound
from app.intake.steps_read import Report, no_report
from app.intake.steps_record import EXPANDED, REJECTED, SYSTEM_ACTOR, finding_json, reject
from app.intake.tasks import queue_new_original
from review.archives import (
    ArchiveLimits,
    ArchiveRefused,
    Member,
    inspect_zip,
    no_drawings,
    select_drawings,
    verify_member,
)
from review.filetypes import MEDIA_TYPES, SNIFF_BYTES, FileKind, sniff
from review.sheets.findings import Finding, Severity
from storage.blobstore import BlobStore
from storage.blobstore.base import BlobInfo
from storage.db import transaction
from storage.models import DrawingFile

MAX_NAME_LENGTH = 255
_COPY_CHUNK = 1024**2


@dataclass(frozen=True)
class ExpandOutcome:
    """What expanding one archive came to."""

    drawing_file_id: int
    created_ids: tuple[int, ...]
    """Drawing files made from members by this run (each queued for verification and processing)."""
    duplicate_ids: tuple[int, ...]
    """Drawing files the submission already had with the content of a member."""
    rejected: bool
    message: str
    """Bilingual summary shown on the task's page."""


def _missing_file(drawing_file_id: int) -> NotFound:
    return NotFound(f"图纸文件 {drawing_file_id} 不存在", f"drawing file {drawing_file_id} does not exist")


def holds_archive(sessions: sessionmaker[Session], store: BlobStore, drawing_file_id: int) -> bool:
    """Whether the stored original of a drawing file is a ZIP archive, by its first bytes."""
    with transaction(sessions) as session:
        drawing = session.get(DrawingFile, drawing_file_id)
        if drawing is None:
            return False
        key = drawing.object_key
    return sniff(store.read_range(key, 0, SNIFF_BYTES)).kind is FileKind.ZIP


def member_file_name(archive_name: str, member_name: str) -> str:
    """``<archive>/<member path>``, shortened from the front so that the member's own name survives."""
    name = f"{archive_name}/{member_name}"
    return name if len(name) <= MAX_NAME_LENGTH else "…" + name[-(MAX_NAME_LENGTH - 1) :]


def _spool(store: BlobStore, key: str, sha256: str, name: str, spool: BinaryIO) -> None:
    digest = hashlib.sha256()
    with store.open(key) as stream:
        while chunk := stream.read(_COPY_CHUNK):
            digest.update(chunk)
            spool.write(chunk)
    if digest.hexdigest() != sha256:
        # The verification job records the damage on the file; nothing is taken from wrong bytes.
        raise Conflict(
            f"原件 {name} 与上传时的 SHA-256 不一致，未处理",
            f"the original {name} no longer matches its SHA-256; it was not processed",
        )
    spool.seek(0)


def _settled(drawing: DrawingFile) -> ExpandOutcome | None:
    """The outcome of an archive an earlier run already settled, or None when it still has to be expanded."""
    if drawing.status == EXPANDED:
        return ExpandOutcome(drawing.id, (), (), False, "压缩包已展开 / the archive was already expanded")
    if drawing.status == REJECTED:
        return ExpandOutcome(drawing.id, (), (), True, "压缩包已退回 / the archive was already rejected")
    return None


def expand_archive(
    sessions: sessionmaker[Session],
    store: BlobStore,
    drawing_file_id: int,
    *,
    limits: ArchiveLimits | None = None,
    report: Report = no_report,
    finish: Callable[[Session, ExpandOutcome], None] | None = None,
) -> ExpandOutcome:
    """Turn the drawings of a stored ZIP archive into drawing files of the same submission."""
    limits = limits or ArchiveLimits()
    with transaction(sessions) as session:
        drawing = session.get(DrawingFile, drawing_file_id)
        if drawing is None:
            raise _missing_file(drawing_file_id)
        settled = _settled(drawing)
        if settled is not None:
            if finish:
                finish(session, settled)
            return settled
        key, sha256, name = drawing.object_key, drawing.sha256, drawing.original_name
    report(1, f"读取 {name} / reading {name}")
    with tempfile.TemporaryFile() as spool:
        _spool(store, key, sha256, name, spool)
        try:
            members, digests, findings = _check(spool, limits, report)
        except ArchiveRefused as exc:
            return _reject(sessions, drawing_file_id, exc.finding, finish)
        stored = []
        for index, member in enumerate(members):
            report(50 + 40 * index / len(members), f"保存 {member.name} / storing {member.name}")
            with member.open() as stream:
                info = store.put_original(stream, content_type=MEDIA_TYPES[member.kind], expected_sha256=digests[index])
            stored.append((member, info))
    report(92, "登记图纸文件 / recording drawing files")
    return _record(sessions, drawing_file_id, stored, findings, finish)


def _check(
    spool: BinaryIO, limits: ArchiveLimits, report: Report
) -> tuple[tuple[Member, ...], list[str], tuple[Finding, ...]]:
    listing = inspect_zip(spool, limits)
    selection = select_drawings(spool, listing, limits)
    if not selection.members:
        raise no_drawings()
    digests = []
    for index, member in enumerate(selection.members):
        report(5 + 45 * index / len(selection.members), f"校验 {member.name} / checking {member.name}")
        digests.append(verify_member(member))
    return selection.members, digests, selection.findings


def _reject(
    sessions: sessionmaker[Session],
    drawing_file_id: int,
    finding: Finding,
    finish: Callable[[Session, ExpandOutcome], None] | None,
) -> ExpandOutcome:
    with transaction(sessions) as session:
        drawing = session.get(DrawingFile, drawing_file_id, with_for_update=True)
        if drawing is None:
            raise _missing_file(drawing_file_id)
        outcome = _settled(drawing)
        if outcome is None:
            reject(session, drawing, finding)
            outcome = ExpandOutcome(drawing_file_id, (), (), True, f"已退回：{finding.zh} / rejected: {finding.en}")
        if finish:
            finish(session, outcome)
    return outcome


def _record(
    sessions: sessionmaker[Session],
    drawing_file_id: int,
    stored: list[tuple[Member, BlobInfo]],
    findings: tuple[Finding, ...],
    finish: Callable[[Session, ExpandOutcome], None] | None,
) -> ExpandOutcome:
    with transaction(sessions) as session:
        archive = session.get(DrawingFile, drawing_file_id, with_for_update=True)
        if archive is None:
            raise _missing_file(drawing_file_id)
        outcome = _settled(archive)
        if outcome is None:
            outcome = _add_members(session, archive, stored, findings)
        if finish:
            finish(session, outcome)
    return outcome


def _add_members(
    session: Session, archive: DrawingFile, stored: list[tuple[Member, BlobInfo]], findings: tuple[Finding, ...]
) -> ExpandOutcome:
    created: list[int] = []
    duplicates: list[tuple[str, int]] = []
    listed: list[dict[str, Any]] = []
    for member, info in stored:
        assert info.sha256 is not None  # put_original always hashes what it stores
        existing = session.scalar(
            select(DrawingFile).where(
                DrawingFile.submission_id == archive.submission_id, DrawingFile.sha256 == info.sha256
            )
        )
        if existing is not None:
            duplicates.append((member.name, existing.id))
            listed.append({"name": member.name, "drawing_file_id": existing.id, "duplicate": True})
            continue
        child = DrawingFile(
            submission_id=archive.submission_id,
            round_id=archive.round_id,
            sha256=info.sha256,
            size=info.size,
            original_name=member_file_name(archive.original_name, member.name),
            media_type=MEDIA_TYPES[member.kind],
            object_key=info.key,
            uploaded_by_id=archive.uploaded_by_id,
            status="stored",
            findings={"kind": member.kind.value, "archive": {"drawing_file_id": archive.id, "member": member.name}},
        )
        session.add(child)
        session.flush()
        audit.record(
            session,
            actor_id=None,
            actor_name=SYSTEM_ACTOR,
            action="drawing_file.extracted",
            object_type="drawing_file",
            object_id=child.id,
            summary=f"{child.original_name} ({info.size} B, sha256 {info.sha256[:16]}…) ← 压缩包 {archive.id}",
        )
        queue_new_original(session, child.id)
        created.append(child.id)
        listed.append({"name": member.name, "drawing_file_id": child.id, "duplicate": False})
    all_findings = list(findings)
    if duplicates:
        names = [name for name, _ in duplicates]
        all_findings.append(
            Finding(
                "ARCHIVE_MEMBER_DUPLICATE",
                Severity.INFO,
                f"以下文件与本次报审中已有的文件内容相同，未重复登记：{'、'.join(names)}",
                f"these members have the same content as files already in the submission and were not added again: "
                f"{', '.join(names)}",
            )
        )
    archive.status = EXPANDED
    archive.findings = {
        **archive.findings,
        "archive": {"members": listed},
        "intake": [finding_json(finding) for finding in all_findings],
    }
    audit.record(
        session,
        actor_id=None,
        actor_name=SYSTEM_ACTOR,
        action="drawing_file.expanded",
        object_type="drawing_file",
        object_id=archive.id,
        summary=f"{archive.original_name}: {len(created)} 个新文件 / new files, {len(duplicates)} 个重复 / duplicates",
    )
    message = (
        f"压缩包展开为 {len(created)} 个图纸文件（{len(duplicates)} 个重复） / "
        f"expanded into {len(created)} drawing files ({len(duplicates)} duplicates)"
    )
    return ExpandOutcome(archive.id, tuple(created), tuple(dup for _, dup in duplicates), False, message)
