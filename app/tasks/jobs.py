"""The background jobs. Each is a thin task around a use case; see :mod:`app.tasks.runs` for the contract."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from app import audit
from app.errors import NotFound
from app.tasks.runs import JobRun, job
from storage.errors import BlobNotFound
from storage.models import DrawingFile

VERIFY_DRAWING_FILE = "drawing_file.verify"

READ_CHUNK_BYTES = 1024 * 1024

CORRUPT = "corrupt"
"""``DrawingFile.status`` of a stored original that no longer matches its SHA-256."""

SYSTEM_ACTOR = "系统 / system"


@job(VERIFY_DRAWING_FILE)
def verify_drawing_file(run: JobRun, drawing_file_id: int) -> str:
    """核验原件：重新读取存储的原始文件并比对 SHA-256 / Re-read a stored original and check its SHA-256."""
    return verify(run, drawing_file_id)


def verify(run: JobRun, drawing_file_id: int) -> str:
    """Stream the original from the object store, hash it, and record the outcome once."""
    with run.transaction() as session:
        drawing = session.get(DrawingFile, drawing_file_id)
        if drawing is None:
            raise NotFound(f"图纸文件 {drawing_file_id} 不存在", f"drawing file {drawing_file_id} does not exist")
        key, expected_sha256, expected_size = drawing.object_key, drawing.sha256, drawing.size

    run.report(0, "正在读取原件 / reading the original")
    try:
        actual, size = _hash_stored(run, key, expected_size)
    except BlobNotFound:
        actual, size = None, 0
    intact = actual == expected_sha256 and size == expected_size

    with run.transaction() as session:
        drawing = session.get(DrawingFile, drawing_file_id, with_for_update=True)
        if drawing is None:
            raise NotFound(f"图纸文件 {drawing_file_id} 不存在", f"drawing file {drawing_file_id} does not exist")
        if intact:
            drawing.verified_at = dt.datetime.now(dt.UTC)
            message = "原件完好 / the original is intact"
            action = "drawing_file.verified"
        elif actual is None:
            drawing.status = CORRUPT
            drawing.findings = {**drawing.findings, "integrity": _missing_finding(key)}
            message = "原件缺失 / the original is missing from the object store"
            action = "drawing_file.corrupt"
        else:
            drawing.status = CORRUPT
            drawing.findings = {**drawing.findings, "integrity": _corrupt_finding(expected_sha256, actual, size)}
            message = "原件已损坏：SHA-256 不符 / the original is corrupt: SHA-256 mismatch"
            action = "drawing_file.corrupt"
        run.complete(session, message)
        audit.record(
            session,
            actor_id=None,
            actor_name=SYSTEM_ACTOR,
            action=action,
            object_type="drawing_file",
            object_id=drawing_file_id,
            summary=f"{message} ({drawing.original_name}, sha256 {actual or '-'})",
        )
    return message


def _hash_stored(run: JobRun, key: str, expected_size: int) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with run.platform.store.open(key) as stream:
        while chunk := stream.read(READ_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
            share = 100.0 * size / expected_size if expected_size else 0.0
            run.report(min(99.0, share), "正在核验 / checking the SHA-256")
    return digest.hexdigest(), size


def _missing_finding(key: str) -> dict[str, Any]:
    return {
        "code": "ORIGINAL_MISSING",
        "severity": "error",
        "zh": "对象存储中找不到原件",
        "en": "the original is not in the object store",
        "object_key": key,
    }


def _corrupt_finding(expected: str, actual: str, size: int) -> dict[str, Any]:
    return {
        "code": "ORIGINAL_CORRUPT",
        "severity": "error",
        "zh": "存储的原件与上传时的 SHA-256 不一致",
        "en": "the stored original no longer matches the SHA-256 recorded at upload",
        "expected_sha256": expected,
        "actual_sha256": actual,
        "actual_size": size,
    }
