"""Departments sealing the result in turn (顺序签章).

:func:`sign_result` is what a department signer's 签章 button does:

1. Read, in a short transaction: whose turn it is, the signer's identity and seal, the newest revision
   of the file (re-hashed against the record).
2. Sign outside any transaction (:func:`signing.sign.sign`): the first department certifies, the
   others approve, the last locks all fields and adds validation data and a document timestamp
   (B-LTA). Every signature carries an RFC 3161 timestamp from ``LIANTU_TSA_URL``.
3. Store the new revision under its own key; earlier revisions stay.
4. Record it in a second transaction that locks the result row (PostgreSQL) and checks its version:
   of two signers pressing at once, one wins; the other gets :class:`~app.errors.Conflict` and the
   revision it made is removed. After the last signature the submission becomes SEALED.

Nothing is stored when signing fails (unreachable TSA, expired certificate): the record and the
file stay exactly as they were.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import sqlite3
from dataclasses import dataclass

from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from app import audit, policy, submissions
from app.errors import Conflict, Forbidden, Invalid, NotFound, ServiceUnavailable
from app.identity.principal import Principal
from app.policy import Action
from app.sealing import identities, seals, trust
from app.sealing.compose import notify_signers, result_key
from app.settings import Settings
from signing.errors import FieldProblem, SigningProblem, TimestampUnavailable
from signing.sign import SignatureRole, StampText, sign
from storage.blobstore.base import BlobStore
from storage.db import transaction
from storage.models import (
    Organization,
    ResultSignature,
    ReviewResult,
    Role,
    SigningIdentity,
    Submission,
    utcnow,
)

log = logging.getLogger(__name__)

SIGNING = "signing"
SEALED = "sealed"


@dataclass(frozen=True)
class _Turn:
    result_id: int
    version: int
    row_id: int
    position: int
    count: int
    field_name: str
    pdf: bytes
    identity: SigningIdentity
    seal_png: bytes
    submission_id: int


def result_for(session: Session, submission_id: int) -> ReviewResult | None:
    return session.scalar(select(ReviewResult).where(ReviewResult.submission_id == submission_id))


def next_signature(result: ReviewResult) -> ResultSignature | None:
    """The field waiting for its seal, or None once every department has signed."""
    return next((row for row in result.signatures if row.signed_at is None), None)


def role_of(position: int, count: int) -> SignatureRole:
    """A result sealed by one department alone is certified, closed to changes and made long-term at once."""
    if count == 1:
        return SignatureRole.SOLE_CERTIFY
    if position == 0:
        return SignatureRole.FIRST_CERTIFY
    return SignatureRole.LAST_LOCK if position == count - 1 else SignatureRole.APPROVE


def may_view(actor: Principal, session: Session, submission: Submission, result: ReviewResult) -> bool:
    """Signers of the result's departments, and whoever may see the submission, may read the result."""
    if any(row.organization_id == actor.organization_id for row in result.signatures):
        return True
    return policy.can(actor, Action.VIEW_SUBMISSION, submission=submission)


def check_turn(session: Session, actor: Principal, result: ReviewResult) -> ResultSignature:
    """The field ``actor`` may seal now; refused for anyone else, twice, or out of turn."""
    if not actor.has_role(Role.DEPARTMENT_SIGNER):
        raise Forbidden("只有部门签章人可以签章", "only department signers may seal the result")
    mine = [row for row in result.signatures if row.organization_id == actor.organization_id]
    if not mine:
        raise Forbidden("本单位不在该结果的签章单位之中", "your organisation does not seal this result")
    if result.state != SIGNING or all(row.signed_at is not None for row in mine):
        raise Conflict("本单位已签章，不能重复签章", "your organisation has already sealed this result")
    waiting = next_signature(result)
    assert waiting is not None
    if waiting.organization_id != actor.organization_id:
        first = session.get(Organization, waiting.organization_id)
        name = first.name if first else str(waiting.organization_id)
        raise Conflict(
            f"尚未轮到本单位签章：请等待{name}先签章",
            f"It is not your turn yet: {name} seals before you",
        )
    return waiting


def sign_result(
    sessions: sessionmaker[Session],
    store: BlobStore,
    settings: Settings,
    actor: Principal,
    submission_id: int,
    *,
    expected_version: int | None = None,
) -> ReviewResult:
    """Seal the result of a submission for the actor's department (see the module's steps)."""
    turn = _read_turn(sessions, store, actor, submission_id, expected_version)
    pdf = _sign(settings, actor, turn)
    digest = hashlib.sha256(pdf).hexdigest()
    key = result_key(turn.submission_id, turn.position + 1, digest)
    store.put_stream(key, io.BytesIO(pdf), content_type="application/pdf", expected_sha256=digest)
    try:
        return _record(sessions, actor, turn, key=key, digest=digest, timestamp_at=_timestamp_time(pdf))
    except BaseException:
        try:
            store.delete(key)
        except Exception:  # the revision stays unreferenced; nothing points at it
            log.exception("could not remove the unrecorded result revision %s", key)
        raise


def _read_turn(
    sessions: sessionmaker[Session], store: BlobStore, actor: Principal, submission_id: int, expected: int | None
) -> _Turn:
    with transaction(sessions) as db:
        submission = db.get(Submission, submission_id)
        result = result_for(db, submission_id)
        if submission is None or result is None or not may_view(actor, db, submission, result):
            raise NotFound("该报审没有联审结果", "the submission has no result")
        if expected is not None and result.version != expected:
            raise _stale()
        row = check_turn(db, actor, result)
        identity = identities.active_identity(db, actor.organization_id)
        if identity is None:
            raise Invalid(
                "本单位尚无可用的签章证书，请联系系统管理员导入",
                "Your organisation has no active signing certificate; ask an administrator to import one",
            )
        seal = seals.active_seal(db, actor.organization_id)
        if seal is None:
            raise Invalid(
                "本单位尚无印章图像，请联系系统管理员上传或生成",
                "Your organisation has no seal image; ask an administrator to upload or generate one",
            )
        with store.open(result.object_key) as stream:
            pdf = stream.read()
        if hashlib.sha256(pdf).hexdigest() != result.sha256:
            raise ServiceUnavailable(
                "存储的联审结果文件与记录不符，已停止签章", "The stored result does not match its record; not signing"
            )
        seal_png = seals.seal_png(store, seal)
        db.expunge(identity)
        return _Turn(
            result_id=result.id,
            version=result.version,
            row_id=row.id,
            position=row.position,
            count=len(result.signatures),
            field_name=row.field_name,
            pdf=pdf,
            identity=identity,
            seal_png=seal_png,
            submission_id=submission_id,
        )


def _sign(settings: Settings, actor: Principal, turn: _Turn) -> bytes:
    if not settings.tsa_url:
        raise ServiceUnavailable(
            "未配置时间戳服务（LIANTU_TSA_URL），无法签章",
            "No timestamp authority is configured (LIANTU_TSA_URL); sealing is not possible",
        )
    role = role_of(turn.position, turn.count)
    roots = trust.trust_roots_der(settings) if role.long_term else []
    try:
        with identities.open_signer(settings, turn.identity) as signer:
            return sign(
                turn.pdf,
                field_name=turn.field_name,
                signer=signer,
                seal_png=turn.seal_png,
                role=role,
                timestamper_url=settings.tsa_url,
                trust_roots=roots,
                stamp=StampText(signer_name=actor.display_name, location=actor.organization_name),
            )
    except TimestampUnavailable as problem:
        raise ServiceUnavailable(problem.zh, problem.en) from problem
    except FieldProblem as problem:
        raise Conflict(problem.zh, problem.en) from problem
    except SigningProblem as problem:
        raise Invalid(problem.zh, problem.en) from problem


def _record(
    sessions: sessionmaker[Session],
    actor: Principal,
    turn: _Turn,
    *,
    key: str,
    digest: str,
    timestamp_at: dt.datetime | None,
) -> ReviewResult:
    try:
        with transaction(sessions) as db:
            result = db.get(ReviewResult, turn.result_id, with_for_update=True, populate_existing=True)
            row = db.get(ResultSignature, turn.row_id, populate_existing=True)
            assert result is not None
            assert row is not None
            if result.version != turn.version or row.signed_at is not None:
                raise _stale()
            now = utcnow()
            row.signer_id = actor.user_id
            row.signed_at = now
            row.timestamp_at = timestamp_at
            row.object_key = key
            row.sha256 = digest
            result.object_key = key
            result.sha256 = digest
            last = turn.position == turn.count - 1
            if last:
                result.state = SEALED
                result.sealed_at = now
            db.flush()
            audit.record(
                db,
                actor_id=actor.user_id,
                actor_name=actor.username,
                action="result.sign",
                object_type="review_result",
                object_id=result.id,
                summary=f"{actor.organization_name} 签章（第 {turn.position + 1}/{turn.count} 个）SHA-256 {digest}",
            )
            submission = db.get(Submission, turn.submission_id)
            assert submission is not None
            if last:
                submissions.complete_sealing(db, submissions.SYSTEM, turn.submission_id)
            else:
                following = db.scalar(
                    select(ResultSignature).where(
                        ResultSignature.result_id == result.id, ResultSignature.position == turn.position + 1
                    )
                )
                assert following is not None
                code = (
                    result.signing_order[following.position] if following.position < len(result.signing_order) else ""
                )
                notify_signers(db, submission, following.organization_id, code)
            return result
    except StaleDataError as exc:
        raise _stale() from exc
    except OperationalError as exc:
        if getattr(exc.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY_SNAPSHOT:
            raise _stale() from exc
        raise


def _timestamp_time(pdf: bytes) -> dt.datetime | None:
    """When the TSA stamped the newest signature, read back from its timestamp token."""
    try:
        embedded = PdfFileReader(io.BytesIO(pdf)).embedded_regular_signatures[-1]
        for attribute in embedded.signer_info["unsigned_attrs"]:
            if attribute["type"].native == "signature_time_stamp_token":
                token = attribute["values"][0]
                info = token["content"]["encap_content_info"]["content"].parsed
                moment: dt.datetime = info["gen_time"].native
                return moment
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return None


def _stale() -> Conflict:
    return Conflict(
        "联审结果已被他人签章或更新，请刷新后重试（本次未签章）",
        "The result was sealed or changed by someone else; reload it and try again (nothing was signed)",
    )
