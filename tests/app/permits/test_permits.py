"""Issuing the construction permit: only on a result that verifies now; numbered, sealed, in the library."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import shutil
import subprocess
from pathlib import Path

import pymupdf
import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm
from sqlalchemy import select

from app.errors import Conflict, Forbidden
from app.identity import principal_for_user
from app.permits import (
    next_permit_number,
    permit_download,
    result_download,
    search_licences,
    use_seal_source,
    verify_and_issue,
)
from app.sealing import identities, seals
from app.seed import BUREAU, DESIGN_INSTITUTE
from app.verification import trust_roots
from signing.verify import Coverage, verify
from storage.db import transaction
from storage.models import Licence, Notification, Organization, Permit, Submission, SubmissionState, User
from tests.app.permits.sealed import (
    SealedCase,
    SealedFiles,
    bureau_bundle,
    bureau_seal_source,
    make_sealed_submission,
    seal_files,
    write_trust_root,
)
from tests.support.pki import SigningPki

PUBLIC_URL = "https://liantu.example.gov.cn"


@pytest.fixture
def web_settings_overrides(test_pki: SigningPki, tmp_path: Path) -> dict[str, str]:
    return {
        "trust_roots": str(write_trust_root(test_pki, tmp_path / "trust")),
        "tsa_url": test_pki.timestamp_url,
        "public_url": PUBLIC_URL,
    }


@pytest.fixture(scope="module")
def files(test_pki: SigningPki) -> SealedFiles:
    return seal_files(test_pki, PUBLIC_URL)


@pytest.fixture(autouse=True)
def bureau_seal(test_pki: SigningPki):  # type: ignore[no-untyped-def]
    use_seal_source(bureau_seal_source(test_pki))
    yield
    use_seal_source(None)


@pytest.fixture
def case(web_platform, files: SealedFiles) -> SealedCase:  # type: ignore[no-untyped-def]
    return make_sealed_submission(web_platform, files)


def _who(platform, username: str):  # type: ignore[no-untyped-def]
    with platform.sessions() as db:
        return principal_for_user(db, db.scalar(select(User.id).where(User.username == username)))


def _issue(platform, who, submission_id: int):  # type: ignore[no-untyped-def]
    return verify_and_issue(
        platform.sessions,
        platform.store,
        platform.settings,
        who,
        submission_id,
        roots=trust_roots(platform.settings),
    )


def test_the_bureau_issues_a_sealed_permit_on_a_verified_result(web_platform, case: SealedCase, test_pki) -> None:  # type: ignore[no-untyped-def]
    issued = _issue(web_platform, _who(web_platform, "bureau"), case.submission_id)
    assert issued.verification.valid
    assert issued.permit_id is not None
    year = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).year
    with web_platform.sessions() as db:
        permit = db.get(Permit, issued.permit_id)
        assert permit.number == f"SGXK-{year}-00001"
        assert permit.verification_id == issued.verification.verification.id
        assert db.get(Submission, case.submission_id).state is SubmissionState.PERMITTED
        entries = search_licences(db, _who(web_platform, "bureau"), case.project_code[-6:])
        assert {(e.kind, e.number) for e in entries} == {
            ("construction_permit", permit.number),
            ("review_result", case.review_number),
        }
        designer = db.scalar(select(User.id).where(User.username == "designer"))
        [note] = db.scalars(select(Notification).where(Notification.user_id == designer)).all()
        assert note.kind == "permit_issued"
        assert permit.number in note.subject_zh
        designer_who = _who(web_platform, "designer")
        download = permit_download(db, web_platform.store, designer_who, case.submission_id)
        result = result_download(db, web_platform.store, designer_who, case.submission_id)
    assert result.data == case.final
    verdict = verify(download.data, trust_roots(web_platform.settings))
    assert verdict.valid, verdict.all_reasons()
    # PAdES B-LTA: the bureau's certification with its timestamp, then validation data and a document timestamp.
    [signature, archive] = verdict.signatures
    assert signature.signer_organisation == "江城市住房和城乡建设局"
    assert signature.timestamp_time is not None
    assert archive.is_timestamp
    assert archive.coverage is Coverage.ENTIRE_FILE
    reader = PdfFileReader(io.BytesIO(download.data))
    assert reader.embedded_signatures[0].docmdp_level is MDPPerm.NO_CHANGES
    dss = reader.root["/DSS"]
    assert len(dss["/Certs"]) >= 3
    assert len(dss["/CRLs"]) >= 1
    doc = pymupdf.open(stream=download.data, filetype="pdf")
    text = doc[0].get_text()
    doc.close()
    assert "建筑工程施工许可证" in text
    assert permit.number in text
    assert "江城市教育局" in text  # the project's construction unit (建设单位)
    assert case.review_number in text
    assert f"{PUBLIC_URL}/verify/{case.review_number}" in text


def test_the_bureau_seals_with_its_stored_identity_and_pdfsig_agrees(  # type: ignore[no-untyped-def]
    web_platform, case: SealedCase, test_pki, tmp_path: Path
) -> None:
    use_seal_source(None)
    with transaction(web_platform.sessions) as db:
        bureau_org = db.scalar(select(Organization.id).where(Organization.name == BUREAU))
        identities.import_pkcs12(
            db,
            web_platform.settings,
            None,
            bureau_org,
            data=bureau_bundle(test_pki),
            password=test_pki.password.decode(),
        )
        seals.generate_seal(db, web_platform.store, None, bureau_org, purpose="行政审批专用章")
    issued = _issue(web_platform, _who(web_platform, "bureau"), case.submission_id)
    assert issued.permit_id is not None
    with web_platform.sessions() as db:
        download = permit_download(db, web_platform.store, _who(web_platform, "designer"), case.submission_id)
    verdict = verify(download.data, trust_roots(web_platform.settings))
    assert verdict.valid, verdict.all_reasons()
    assert verdict.signatures[0].signer_common_name == BUREAU
    if shutil.which("pdfsig") is None:
        pytest.skip("poppler-utils not installed")
    path = tmp_path / "permit.pdf"
    path.write_bytes(download.data)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False).stdout
    assert "Signature Validation: Signature is Valid" in out
    assert "Total document signed" in out


def test_no_permit_on_a_result_that_no_longer_verifies(web_platform, case: SealedCase) -> None:
    stored = Path(web_platform.settings.effective_store_path)
    with web_platform.sessions() as db:
        from storage.models import ReviewResult

        key = db.get(ReviewResult, case.result_id).object_key
    path = stored / key
    data = bytearray(path.read_bytes())
    data[data.index(b"stream") + 20] ^= 1
    path.write_bytes(bytes(data))
    issued = _issue(web_platform, _who(web_platform, "bureau"), case.submission_id)
    assert issued.permit_id is None
    assert not issued.verification.valid
    with web_platform.sessions() as db:
        assert db.scalars(select(Permit)).first() is None
        assert db.scalars(select(Licence)).first() is None
        assert db.get(Submission, case.submission_id).state is SubmissionState.SEALED
        # The failed verification is kept.
        from storage.models import Verification

        assert db.scalars(select(Verification.verdict)).all() == ["invalid"]


def test_a_project_without_construction_unit_names_the_applicant_on_the_permit(web_platform, case: SealedCase) -> None:
    with transaction(web_platform.sessions) as db:
        db.get(Submission, case.submission_id).project.construction_unit = ""  # from before the field existed
    assert _issue(web_platform, _who(web_platform, "bureau"), case.submission_id).permit_id is not None
    with web_platform.sessions() as db:
        holder = db.scalar(select(Licence.holder).where(Licence.kind == "construction_permit"))
    assert holder == DESIGN_INSTITUTE


def test_only_the_bureau_issues_and_only_once(web_platform, case: SealedCase) -> None:
    with pytest.raises(Forbidden):
        _issue(web_platform, _who(web_platform, "designer"), case.submission_id)
    bureau = _who(web_platform, "bureau")
    assert _issue(web_platform, bureau, case.submission_id).permit_id is not None
    with pytest.raises(Conflict) as again:
        _issue(web_platform, bureau, case.submission_id)
    assert "已核发" in again.value.zh
    with web_platform.sessions() as db:
        assert len(db.scalars(select(Permit)).all()) == 1


def test_a_bureau_without_a_seal_gets_a_clear_refusal(web_platform, case: SealedCase) -> None:
    use_seal_source(None)
    with pytest.raises(Conflict) as refused:
        _issue(web_platform, _who(web_platform, "bureau"), case.submission_id)
    assert "签章证书" in refused.value.zh
    assert refused.value.en
    with web_platform.sessions() as db:
        assert db.get(Submission, case.submission_id).state is SubmissionState.SEALED
        assert db.scalars(select(Permit)).first() is None


def test_permit_numbers_run_per_year(web_platform, case: SealedCase) -> None:
    _issue(web_platform, _who(web_platform, "bureau"), case.submission_id)
    with web_platform.sessions() as db:
        year = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).year
        now = dt.datetime(year, 6, 1, tzinfo=dt.UTC)
        assert next_permit_number(db, now) == f"SGXK-{year}-00002"
        assert next_permit_number(db, now.replace(year=year + 1)) == f"SGXK-{year + 1}-00001"
        # New Year's Eve at 17:00 UTC is already the next year in Beijing.
        eve = dt.datetime(year, 12, 31, 17, 0, tzinfo=dt.UTC)
        assert next_permit_number(db, eve) == f"SGXK-{year + 1}-00001"


def test_a_submission_not_yet_sealed_gets_no_permit(web_platform, test_pki) -> None:  # type: ignore[no-untyped-def]
    partial = dataclasses.replace(
        seal_files(test_pki, PUBLIC_URL, signed=2),
        project_code="2026-420100-47-01-000999",
        review_number="LT-2026-000999",
    )
    case = make_sealed_submission(web_platform, partial)
    with pytest.raises(Conflict):
        _issue(web_platform, _who(web_platform, "bureau"), case.submission_id)
    with transaction(web_platform.sessions) as db:
        assert db.get(Submission, case.submission_id).state is SubmissionState.SEALING
