"""Verification pages, permit issuing, downloads and the e-licence library, through HTTP."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from sqlalchemy import select

from app.identity import principal_for_user
from app.permits import ISSUE_PERMIT, issue_permit, use_seal_source
from app.web import verification as verification_pages
from storage.db import transaction
from storage.models import Permit, Submission, SubmissionState, TaskRun, TaskState, Verification
from tests.app.permits.sealed import (
    SealedCase,
    SealedFiles,
    bureau_seal_source,
    make_sealed_submission,
    seal_files,
    write_trust_root,
)
from tests.support.pki import SigningPki
from tests.support.web import csrf_token, sign_in

PUBLIC_URL = "https://liantu.example.gov.cn"


@pytest.fixture
def web_settings_overrides(test_pki: SigningPki, tmp_path: Path) -> dict[str, str]:
    return {
        "trust_roots": str(write_trust_root(test_pki, tmp_path / "trust")),
        "tsa_url": test_pki.timestamp_url,
        "public_url": PUBLIC_URL,
        "verify_max_bytes": str(2 * 1024 * 1024),
        "verify_attempts": "6",
    }


@pytest.fixture(scope="module")
def files(test_pki: SigningPki) -> SealedFiles:
    return seal_files(test_pki, PUBLIC_URL)


@pytest.fixture(autouse=True)
def fresh_limits(test_pki: SigningPki, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    # Each test has a data folder of its own, hence counts of its own; a still clock keeps them in one window.
    monkeypatch.setattr(verification_pages.limiter, "clock", lambda: 1_800_000_000.0)
    use_seal_source(bureau_seal_source(test_pki))
    yield
    use_seal_source(None)


@pytest.fixture
def case(web_platform, files: SealedFiles) -> SealedCase:  # type: ignore[no-untyped-def]
    return make_sealed_submission(web_platform, files)


def _post_file(client, path: str, data: bytes, name: str = "结果.pdf", token_path: str = "/verify"):  # type: ignore[no-untyped-def]
    token = csrf_token(client, token_path)
    # The CSRF token must be the first part of the multipart body.
    return client.post(path, data={"csrf_token": token}, files={"file": (name, data, "application/pdf")})


def _tampered(pdf: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page["/Contents"] = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 40 Tf 100 500 Td (OK) Tj ET"))
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_the_public_page_needs_no_login_and_speaks_chinese_first(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/verify")
    assert page.status_code == 200
    assert "电子签章验证" in page.text
    assert 'name="file"' in page.text
    english = client.get("/verify", headers={"Accept-Language": "en"})
    assert "Verify electronic seals" in english.text


def test_an_uploaded_copy_is_valid_and_a_tampered_one_invalid(client, case: SealedCase) -> None:  # type: ignore[no-untyped-def]
    good = _post_file(client, "/verify", case.final)
    assert good.status_code == 200
    assert 'data-valid="true"' in good.text
    assert "验证通过" in good.text
    assert good.text.count('data-testid="signature-row"') == 4  # three seals and the document timestamp
    assert "某市消防救援支队" in good.text
    bad = _post_file(client, "/verify", _tampered(case.final))
    assert 'data-valid="false"' in bad.text
    assert "签章后文档被修改" in bad.text
    assert "The document was modified after signing" in bad.text
    listed = bad.text.split('data-testid="verdict-reasons"')[1].split("</ul>")[0]
    assert listed.count("签章后文档被修改") == 1  # each kind of problem once; the signature rows repeat theirs
    # A visitor learns the verdict on their own file, not which record it matched.
    assert 'data-testid="public-record"' not in bad.text
    assert "江城市第一中学" not in bad.text.split('data-testid="verdict"')[0]


def test_bad_uploads_are_refused_with_a_message(client, web_platform) -> None:  # type: ignore[no-untyped-def]
    not_pdf = _post_file(client, "/verify", b"<html>hello</html>", "x.pdf")
    assert not_pdf.status_code == 400
    assert "只能验证 PDF 文件" in not_pdf.text
    assert "Only PDF files can be verified" in not_pdf.text
    large = _post_file(client, "/verify", b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024))
    assert large.status_code == 400
    assert "MB" in large.text
    garbage = _post_file(client, "/verify", b"%PDF-1.7\nthis is not a pdf at all")
    assert garbage.status_code == 200
    assert "PDF 文件无法解析" in garbage.text
    token = csrf_token(client, "/verify")
    body = (
        f'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        '--b\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n%PDF-1.7\r\n--b--\r\n"
    ).encode()
    chunked = client.post("/verify", content=iter([body]), headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert chunked.status_code == 400
    assert "Content-Length" in chunked.text
    no_token = client.post("/verify", files={"file": ("a.pdf", b"%PDF-1.7", "application/pdf")})
    assert no_token.status_code == 403
    with web_platform.sessions() as db:
        assert [v.verdict for v in db.scalars(select(Verification))] == ["unknown"]


def test_public_uploads_are_rate_limited(client) -> None:  # type: ignore[no-untyped-def]
    statuses = [_post_file(client, "/verify", b"%PDF-1.7\nx").status_code for _ in range(7)]
    assert statuses[:6] == [200] * 6
    assert statuses[6] == 429


def test_the_qr_target_shows_the_stored_result_and_offers_it(client, case: SealedCase, web_platform) -> None:  # type: ignore[no-untyped-def]
    page = client.get(f"/verify/{case.review_number}")
    assert page.status_code == 200
    assert 'data-valid="true"' in page.text
    assert case.review_number in page.text
    assert "江城市第一中学新校区教学楼" in page.text
    download = client.get(f"/verify/{case.review_number}/result.pdf")
    assert download.status_code == 200
    assert download.content == case.final
    assert download.headers["content-type"] == "application/pdf"
    assert (
        "filename*=UTF-8''%E8%81%94%E5%AE%A1%E7%BB%93%E6%9E%9C-LT-2026-000321.pdf"
        in download.headers["content-disposition"]
    )
    # A second visit reuses the recent verification.
    client.get(f"/verify/{case.review_number}")
    with web_platform.sessions() as db:
        assert len(db.scalars(select(Verification).where(Verification.public.is_(True))).all()) == 1
    assert client.get("/verify/LT-0000-000000").status_code == 404
    assert client.get("/verify/LT-0000-000000/result.pdf").status_code == 404


def test_a_result_not_yet_sealed_has_no_public_page(client, web_platform, test_pki) -> None:  # type: ignore[no-untyped-def]
    partial = dataclasses.replace(
        seal_files(test_pki, PUBLIC_URL, signed=1), project_code="P-2", review_number="LT-2026-000002"
    )
    make_sealed_submission(web_platform, partial)
    assert client.get("/verify/LT-2026-000002").status_code == 404
    assert client.get("/verify/LT-2026-000002/result.pdf").status_code == 404


def test_the_bureau_verifies_issues_and_the_designer_downloads(client, web_platform, case: SealedCase) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, web_platform, "bureau")
    desk = client.get("/verification")
    assert desk.status_code == 200
    assert f'data-submission="{case.submission_id}"' in desk.text
    token = csrf_token(client, "/verification")
    # A tampered copy the bureau checks is reported on its own, not as the stored result's state.
    copy = client.post(
        "/verification/upload",
        data={"csrf_token": token},
        files={"file": ("copy.pdf", _tampered(case.final), "application/pdf")},
    )
    assert copy.status_code == 303
    assert 'data-valid="false"' in client.get(copy.headers["location"]).text
    assert "tag-danger" not in client.get("/verification").text
    verified = client.post(f"/verification/submissions/{case.submission_id}", data={"csrf_token": token})
    assert verified.status_code == 303
    report = client.get(verified.headers["location"])
    assert 'data-valid="true"' in report.text
    assert 'data-testid="manifest-ok"' in report.text
    requested = client.post(f"/submissions/{case.submission_id}/permit", data={"csrf_token": token})
    assert requested.status_code == 303
    waiting = client.get(requested.headers["location"])
    assert 'data-testid="permit-issuing"' in waiting.text
    assert 'http-equiv="refresh"' in waiting.text
    assert 'data-testid="issue-permit"' not in waiting.text
    again = client.post(f"/submissions/{case.submission_id}/permit", data={"csrf_token": token})
    assert again.status_code == 409
    assert "正在签发" in again.text
    # What the worker does with the queued job.
    with web_platform.sessions() as db:
        run = db.scalars(select(TaskRun).where(TaskRun.name == ISSUE_PERMIT)).one()
        arguments = dict(run.arguments)
    assert arguments["submission_id"] == case.submission_id
    with transaction(web_platform.sessions) as db:
        who = principal_for_user(db, arguments["user_id"])
        issue_permit(
            db,
            web_platform.store,
            web_platform.settings,
            who,
            case.submission_id,
            verification_id=arguments["verification_id"],
        )
        db.get(TaskRun, run.id).state = TaskState.SUCCEEDED
    shown = client.get(requested.headers["location"])
    assert 'data-testid="permit-issued"' in shown.text
    assert 'http-equiv="refresh"' not in shown.text
    with web_platform.sessions() as db:
        permit = db.scalars(select(Permit)).one()
        assert db.get(Submission, case.submission_id).state is SubmissionState.PERMITTED
    library = client.get("/licences", params={"project_code": case.project_code[:9]})
    assert library.text.count('data-testid="licence-row"') == 2
    assert permit.number in library.text
    api = client.get("/api/v1/licences", params={"project_code": case.project_code})
    assert {e["kind"] for e in api.json()["licences"]} == {"construction_permit", "review_result"}
    assert client.get("/api/v1/licences", params={"project_code": "nothing-like-it"}).json() == {"licences": []}

    client.cookies.clear()
    sign_in(client, web_platform, "designer")
    page = client.get(f"/submissions/{case.submission_id}")
    assert 'data-testid="download-permit"' in page.text
    assert 'data-testid="download-result"' in page.text
    permit_pdf = client.get(f"/submissions/{case.submission_id}/permit.pdf")
    assert permit_pdf.status_code == 200
    assert permit_pdf.content.startswith(b"%PDF")
    assert client.get(f"/submissions/{case.submission_id}/result.pdf").content == case.final
    assert client.get("/verification").status_code == 403
    assert client.get("/licences").status_code == 403
    assert client.get("/api/v1/licences").status_code == 403


def test_other_users_cannot_download_or_issue(client, web_platform, case: SealedCase) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, web_platform, "clerk")
    token = csrf_token(client, "/")
    refused = client.post(f"/submissions/{case.submission_id}/permit", data={"csrf_token": token})
    assert refused.status_code == 403
    with web_platform.sessions() as db:
        assert db.scalars(select(Permit)).first() is None
    assert client.get(f"/submissions/{case.submission_id}/permit.pdf").status_code == 404
    assert client.get("/verify").status_code == 200


def test_a_failed_issuing_job_is_shown_and_may_be_asked_again(client, web_platform, case: SealedCase) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, web_platform, "bureau")
    token = csrf_token(client, "/verification")
    requested = client.post(f"/submissions/{case.submission_id}/permit", data={"csrf_token": token})
    with transaction(web_platform.sessions) as db:
        run = db.scalars(select(TaskRun).where(TaskRun.name == ISSUE_PERMIT)).one()
        run.state = TaskState.FAILED
        run.message = "时间戳服务不可用 / The timestamp authority is unavailable"
    page = client.get(requested.headers["location"])
    assert 'data-testid="permit-failed"' in page.text
    assert "时间戳服务不可用" in page.text
    assert 'http-equiv="refresh"' not in page.text
    assert 'data-testid="issue-permit"' in page.text
    again = client.post(f"/submissions/{case.submission_id}/permit", data={"csrf_token": token})
    assert again.status_code == 303
    with web_platform.sessions() as db:
        assert len(db.scalars(select(TaskRun).where(TaskRun.name == ISSUE_PERMIT)).all()) == 2
        assert db.scalars(select(Permit)).first() is None
