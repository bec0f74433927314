"""The result is composed once every track passed, then sealed by three departments in turn."""

from __future__ import annotations

import hashlib
import io
import itertools
import re
import shutil
import subprocess
from pathlib import Path

import pymupdf
import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.errors import Conflict, Forbidden, ServiceUnavailable
from app.sealing import compose
from app.sealing.signing import sign_result
from app.settings import Settings
from signing.verify import verify
from storage.blobstore.local import LocalBlobStore
from storage.models import (
    Notification,
    ResultSignature,
    ReviewResult,
    Submission,
    SubmissionState,
    TaskRun,
    TrackReview,
    User,
)
from tests.app.sealing.conftest import Case, sealing_settings
from tests.support.pki import SigningPki

ORDER = ("fire", "civil_air_defence", "construction")


def _compose(factory: sessionmaker[Session], store: LocalBlobStore, settings: Settings, case: Case) -> ReviewResult:
    with factory() as session, session.begin():
        return compose.compose_result(session, store, settings, case.submission_id)


def _state(factory: sessionmaker[Session], case: Case) -> tuple[SubmissionState, str, str, int, list[bool]]:
    with factory() as session:
        submission = session.get(Submission, case.submission_id)
        result = session.scalar(select(ReviewResult).where(ReviewResult.submission_id == case.submission_id))
        assert submission is not None
        assert result is not None
        return (
            submission.state,
            result.state,
            result.sha256,
            result.version,
            [row.signed_at is not None for row in result.signatures],
        )


def _stored(store: LocalBlobStore, key: str) -> bytes:
    with store.open(key) as stream:
        return stream.read()


def test_composing_makes_the_result_with_a_field_per_department_in_order(
    session_factory: sessionmaker[Session], store: LocalBlobStore, settings: Settings, case: Case
) -> None:
    result = _compose(session_factory, store, settings, case)
    with session_factory() as session:
        result = session.get(ReviewResult, result.id)
        assert result is not None
        assert result.signing_order == list(ORDER)
        assert [row.organization_id for row in result.signatures] == [case.departments[c] for c in ORDER]
        assert [entry["number"] for entry in result.manifest] == ["建施-01", "建施-02"]
        pdf = _stored(store, result.object_key)
        assert hashlib.sha256(pdf).hexdigest() == result.sha256
        submission = session.get(Submission, case.submission_id)
        assert submission is not None
        assert submission.state is SubmissionState.SEALING
        # Only the first department is told to sign.
        told = session.scalars(select(User.username).join(Notification, Notification.user_id == User.id)).all()
        assert told == ["fire.signer"]
    doc = pymupdf.open(stream=pdf, filetype="pdf")
    try:
        assert doc.page_count == 4  # certificate, manifest, two sheets
        text = doc[0].get_text()
        assert "JC-SG-2026-0042" in text
        assert "江城市滨江小学新建工程" in text
        assert "江城市滨江区教育局" in text
        assert compose.NOT_RECORDED not in text
        assert [w.field_name for w in doc[0].widgets()] == [row.field_name for row in result.signatures]
        assert "https://liantu.example.cn/verify/JC-SG-2026-0042" in text
    finally:
        doc.close()
    # Composing again finds the result and changes nothing.
    again = _compose(session_factory, store, settings, case)
    assert again.id == result.id
    assert again.sha256 == result.sha256


def test_a_project_without_construction_unit_gets_a_certificate_saying_so(
    session_factory: sessionmaker[Session], store: LocalBlobStore, settings: Settings, case: Case
) -> None:
    with session_factory() as session, session.begin():
        submission = session.get(Submission, case.submission_id)
        assert submission is not None
        submission.project.construction_unit = ""  # a project from before the field existed
    result = _compose(session_factory, store, settings, case)
    doc = pymupdf.open(stream=_stored(store, result.object_key), filetype="pdf")
    try:
        text = doc[0].get_text()
    finally:
        doc.close()
    assert "建设单位" in text
    assert compose.NOT_RECORDED in text
    assert "江城市滨江区教育局" not in text


def test_three_departments_seal_in_turn_and_the_submission_is_sealed(
    session_factory: sessionmaker[Session],
    store: LocalBlobStore,
    settings: Settings,
    case: Case,
    test_pki: SigningPki,
    tmp_path: Path,
) -> None:
    _compose(session_factory, store, settings, case)
    for code in ORDER:
        sign_result(session_factory, store, settings, case.signers[code], case.submission_id)
    state, result_state, digest, _, signed = _state(session_factory, case)
    assert state is SubmissionState.SEALED
    assert result_state == "sealed"
    assert signed == [True, True, True]
    with session_factory() as session:
        rows = session.scalars(select(ResultSignature).order_by(ResultSignature.position)).all()
        # Every revision is kept under its own key, and the last one is the result.
        revisions = [_stored(store, row.object_key or "") for row in rows]
        assert [hashlib.sha256(r).hexdigest() for r in revisions] == [row.sha256 for row in rows]
        assert rows[-1].sha256 == digest
        assert all(row.timestamp_at is not None for row in rows)
        assert [row.signer_id for row in rows] == [case.signers[c].user_id for c in ORDER]
        # Each revision extends the one before (incremental updates only).
        assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(revisions))
        told = set(session.scalars(select(User.username).join(Notification, Notification.user_id == User.id)))
        assert told == {"fire.signer", "civil_air_defence.signer", "construction.signer"}
    final = revisions[-1]
    verdict = verify(final, test_pki.trust_roots)
    assert verdict.valid, verdict.all_reasons()
    assert [s.signer_common_name for s in verdict.signatures if s.signer_common_name][:3] == [
        "某市消防救援支队",
        "某市人民防空办公室",
        "某市住房和城乡建设局",
    ]
    if shutil.which("pdfsig") is None:
        pytest.skip("poppler-utils (pdfsig) not installed")
    path = tmp_path / "final.pdf"
    path.write_bytes(final)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False).stdout
    # The three seals; pdfsig does not validate the document timestamp itself.
    assert len(re.findall(r"Signature Validation: Signature is Valid", out)) == 3
    blocks = out.split("Signature #")[1:]
    assert len(blocks) == 4  # three seals and the document timestamp
    assert "Total document signed" in blocks[-1]


def test_nobody_signs_out_of_turn_or_twice_and_the_result_stays_unchanged(
    session_factory: sessionmaker[Session], store: LocalBlobStore, settings: Settings, case: Case
) -> None:
    _compose(session_factory, store, settings, case)
    before = _state(session_factory, case)
    with pytest.raises(Conflict) as early:
        sign_result(session_factory, store, settings, case.signers["construction"], case.submission_id)
    assert "尚未轮到" in early.value.zh
    assert "江城市消防救援支队" in early.value.zh
    assert "not your turn" in early.value.en
    assert _state(session_factory, case) == before

    sign_result(session_factory, store, settings, case.signers["fire"], case.submission_id)
    after_first = _state(session_factory, case)
    with pytest.raises(Conflict) as twice:
        sign_result(session_factory, store, settings, case.signers["fire"], case.submission_id)
    assert "已签章" in twice.value.zh
    assert "already sealed" in twice.value.en
    assert _state(session_factory, case) == after_first


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_stale_page_cannot_sign(
    session_factory: sessionmaker[Session], store: LocalBlobStore, settings: Settings, case: Case
) -> None:
    _compose(session_factory, store, settings, case)
    version = _state(session_factory, case)[3]
    sign_result(session_factory, store, settings, case.signers["fire"], case.submission_id, expected_version=version)
    before = _state(session_factory, case)
    with pytest.raises(Conflict):
        sign_result(
            session_factory,
            store,
            settings,
            case.signers["civil_air_defence"],
            case.submission_id,
            expected_version=version,
        )
    assert _state(session_factory, case) == before


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_others_may_not_sign(
    session_factory: sessionmaker[Session], store: LocalBlobStore, settings: Settings, case: Case
) -> None:
    from dataclasses import replace

    from storage.models import Role

    _compose(session_factory, store, settings, case)
    reviewer = replace(case.signers["fire"], roles=frozenset({(Role.REVIEWER, "fire")}))
    with pytest.raises(Forbidden):
        sign_result(session_factory, store, settings, reviewer, case.submission_id)
    assert _state(session_factory, case)[4] == [False, False, False]


def test_an_unreachable_timestamp_authority_leaves_file_and_rows_unchanged(
    session_factory: sessionmaker[Session],
    store: LocalBlobStore,
    settings: Settings,
    case: Case,
    tmp_path: Path,
    trust_root_file: Path,
) -> None:
    import socket

    _compose(session_factory, store, settings, case)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on that port any more.
    down = sealing_settings(tmp_path / "down", trust_root_file, f"http://127.0.0.1:{port}/tsa")
    before = _state(session_factory, case)
    objects_before = sorted(p.name for p in (tmp_path / "objects").rglob("*.pdf"))
    with pytest.raises(ServiceUnavailable) as failed:
        sign_result(session_factory, store, down, case.signers["fire"], case.submission_id)
    assert "时间戳" in failed.value.zh
    assert "imestamp" in failed.value.en
    assert _state(session_factory, case) == before
    assert sorted(p.name for p in (tmp_path / "objects").rglob("*.pdf")) == objects_before


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_passing_the_last_track_queues_the_composition(
    session_factory: sessionmaker[Session], store: LocalBlobStore, settings: Settings, case: Case
) -> None:
    from app import submissions
    from storage.models import TrackReviewState

    with session_factory() as session, session.begin():
        submission = session.get(Submission, case.submission_id)
        assert submission is not None
        submission.state = SubmissionState.IN_REVIEW
    with session_factory() as session, session.begin():
        submissions.conclude_round(session, submissions.SYSTEM, case.submission_id)
        runs = session.scalars(select(TaskRun).where(TaskRun.name == compose.COMPOSE_RESULT)).all()
        assert [run.arguments for run in runs] == [{"submission_id": case.submission_id}]
        assert TrackReviewState.PASSED  # every track review of the last round passed
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ReviewResult)) == 0


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_certificate_that_expired_since_its_import_signs_nothing(
    session_factory: sessionmaker[Session],
    store: LocalBlobStore,
    settings: Settings,
    case: Case,
    test_pki: SigningPki,
) -> None:
    import datetime as dt

    from cryptography.hazmat.primitives import hashes

    from app.errors import Invalid
    from app.sealing import identities, vault
    from signing.pki import Organisation, issue_signing_pkcs12, load_pkcs12
    from storage.models import SigningIdentity

    now = dt.datetime.now(dt.UTC)
    expired = issue_signing_pkcs12(
        test_pki.pki.issuing_pkcs12,
        test_pki.password,
        Organisation("某市消防救援支队", "某市消防救援支队", "消防审查", "fire-old"),
        not_before=now - dt.timedelta(days=400),
        not_after=now - dt.timedelta(hours=1),
    )
    certificate = load_pkcs12(expired, test_pki.password, check_validity=False).certificate
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex()
    _compose(session_factory, store, settings, case)
    with session_factory() as session, session.begin():
        current = identities.active_identity(session, case.departments["fire"])
        assert current is not None
        current.active = False
        # As it was stored when it was still valid.
        session.add(
            SigningIdentity(
                organization_id=case.departments["fire"],
                kind="pkcs12",
                certificate_pem="",
                subject=certificate.subject.rfc4514_string(),
                fingerprint_sha256=fingerprint,
                pkcs12_sealed=vault.seal_bundle(
                    settings.effective_signing_key, fingerprint, expired, test_pki.password
                ),
                active=True,
            )
        )
    before = _state(session_factory, case)
    with pytest.raises(Invalid) as refused:
        sign_result(session_factory, store, settings, case.signers["fire"], case.submission_id)
    assert "已过期" in refused.value.zh
    assert "expired" in refused.value.en
    assert _state(session_factory, case) == before


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_result_sealed_by_one_department_alone_is_closed_and_long_term(
    session_factory: sessionmaker[Session],
    store: LocalBlobStore,
    settings: Settings,
    case: Case,
    test_pki: SigningPki,
) -> None:
    """Only construction review was asked for: its department's seal certifies with no change allowed (B-LTA)."""
    with session_factory() as session, session.begin():
        for review in session.scalars(select(TrackReview).where(TrackReview.track_code != "construction")):
            session.delete(review)
    result = _compose(session_factory, store, settings, case)
    assert result.signing_order == ["construction"]
    sign_result(session_factory, store, settings, case.signers["construction"], case.submission_id)
    state, result_state, digest, _, signed = _state(session_factory, case)
    assert (state, result_state, signed) == (SubmissionState.SEALED, "sealed", [True])
    with session_factory() as session:
        key = session.scalars(select(ReviewResult.object_key).where(ReviewResult.submission_id == case.submission_id))
        final = _stored(store, key.one())
    assert hashlib.sha256(final).hexdigest() == digest
    verdict = verify(final, test_pki.trust_roots)
    assert verdict.valid, verdict.all_reasons()
    seal, archive = verdict.signatures
    assert seal.signer_common_name == "某市住房和城乡建设局"
    assert seal.timestamp_time is not None
    assert seal.docmdp_ok is True
    assert archive.is_timestamp  # the document timestamp of PAdES B-LTA
    embedded = PdfFileReader(io.BytesIO(final)).embedded_regular_signatures
    assert [s.docmdp_level for s in embedded] == [MDPPerm.NO_CHANGES]
