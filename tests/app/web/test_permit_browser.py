"""In a real browser: three department signers seal the result in turn on the signing page; the bureau
verifies it and issues the permit; the designer downloads both; the public page shows the result
valid and a tampered copy invalid.

The result is composed before the browser starts (one sheet, the departments' empty fields), and
each department's and the bureau's certificate from the test PKI is imported as its signing identity.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from sqlalchemy import select

from app.platform import Platform
from app.sealing import identities, seals
from app.seed import BUREAU, CIVIL_AIR_DEFENCE_OFFICE, CONSTRUCTION_SECTION, DEMO_PASSWORD, FIRE_DEPARTMENT, seed_demo
from app.verification import read_result
from storage.db import transaction
from storage.models import Organization, Permit, ReviewResult, Submission, SubmissionState
from tests.app.permits.sealed import (
    SealedFiles,
    bureau_bundle,
    make_sealed_submission,
    seal_files,
    write_trust_root,
)
from tests.support.browser import free_port
from tests.support.pki import SigningPki
from tests.support.workers import WorkerEnvironment, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PUBLIC_URL = "https://liantu.example.gov.cn"
ISSUE_TIMEOUT_MS = 90_000


@pytest.fixture
def worker_settings_overrides(test_pki: SigningPki, tmp_path: Path) -> dict[str, str]:
    return {
        "trust_roots": str(write_trust_root(test_pki, tmp_path / "trust")),
        "tsa_url": test_pki.timestamp_url,
        "public_url": PUBLIC_URL,
    }


@pytest.fixture
def live_server(worker_environment: WorkerEnvironment) -> Iterator[str]:
    """Liantu on loopback over the worker environment's platform, with one worker that issues permits."""
    import uvicorn

    from app.web import create_app

    with transaction(worker_environment.sessions) as session:
        seed_demo(session)
    worker_environment.start_worker()
    port = free_port()
    app = create_app(worker_environment.platform)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="liantu-permit-server", daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), timeout=15, what="the web server to start")
    assert thread.is_alive()
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def live_platform(worker_environment: WorkerEnvironment) -> Platform:
    return worker_environment.platform


@pytest.fixture(scope="module")
def files(test_pki: SigningPki) -> SealedFiles:
    # Signed before the browser starts: Playwright keeps an event loop running in this thread.
    return seal_files(test_pki, PUBLIC_URL, signed=0)


SIGNERS = (("fire.signer", FIRE_DEPARTMENT, "fire"), ("airdef.signer", CIVIL_AIR_DEFENCE_OFFICE, "civil_defence"))
SIGNERS += (("construction.signer", CONSTRUCTION_SECTION, "construction"),)


def _give_identities(platform: Platform, test_pki: SigningPki) -> None:
    """Each demo department gets its certificate from the test PKI and a generated seal."""
    with transaction(platform.sessions) as db:
        for _, organization, slug in SIGNERS:
            org_id = db.scalar(select(Organization.id).where(Organization.name == organization))
            identities.import_pkcs12(
                db,
                platform.settings,
                None,
                org_id,
                data=test_pki.pki.signers[slug],
                password=test_pki.password.decode(),
            )
            seals.generate_seal(db, platform.store, None, org_id, purpose="施工图审查专用章")
        bureau = db.scalar(select(Organization.id).where(Organization.name == BUREAU))
        identities.import_pkcs12(
            db, platform.settings, None, bureau, data=bureau_bundle(test_pki), password=test_pki.password.decode()
        )
        seals.generate_seal(db, platform.store, None, bureau, purpose="行政审批专用章")


def _sign_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"{base}/")


def _tampered(pdf: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page["/Contents"] = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 40 Tf 100 500 Td (OK) Tj ET"))
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_verify_issue_download_and_the_public_page(  # type: ignore[no-untyped-def]
    files: SealedFiles,
    chromium,
    live_server: str,
    live_platform,
    test_pki,
    screenshots: Path,
    tmp_path: Path,
) -> None:
    case = make_sealed_submission(live_platform, files)
    _give_identities(live_platform, test_pki)
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()

    for index, (username, _, _) in enumerate(SIGNERS):
        _sign_in(page, live_server, username)
        page.goto(f"{live_server}/submissions/{case.submission_id}/result")
        page.get_by_test_id("sign").click()
        page.get_by_test_id("sealing-done").wait_for(timeout=60_000)
        assert page.locator('[data-testid="seal-step"][data-signed="true"]').count() == index + 1
        if index in (0, len(SIGNERS) - 1):
            page.screenshot(path=str(screenshots / f"permit-signing-{index + 1}.png"), full_page=True)
        page.get_by_test_id("logout").click()
    with live_platform.sessions() as db:
        assert db.get(Submission, case.submission_id).state is SubmissionState.SEALED
        sealed = db.get(ReviewResult, case.result_id)
        final = read_result(live_platform.store, sealed)
    if shutil.which("pdfsig"):
        sealed_path = tmp_path / "sealed.pdf"
        sealed_path.write_bytes(final)
        out = subprocess.run(["pdfsig", str(sealed_path)], capture_output=True, text=True, check=False).stdout
        assert out.count("Signature Validation: Signature is Valid") == 3
        assert "Total document signed" in out.split("Signature #")[-1]

    _sign_in(page, live_server, "bureau")
    page.get_by_test_id("nav-verification").click()
    row = page.locator(f'[data-testid="result-row"][data-submission="{case.submission_id}"]')
    row.wait_for()
    assert case.review_number in row.inner_text()
    page.screenshot(path=str(screenshots / "permit-desk.png"), full_page=True)
    row.get_by_test_id("verify-stored").click()
    verdict = page.get_by_test_id("verdict")
    verdict.wait_for()
    assert verdict.get_attribute("data-valid") == "true"
    assert page.get_by_test_id("signature-row").count() == 4
    assert page.get_by_test_id("manifest-ok").is_visible()
    page.screenshot(path=str(screenshots / "permit-verification-report.png"), full_page=True)

    page.get_by_test_id("issue-permit").click()
    # The worker composes and seals the permit; the page refreshes itself until it is there.
    page.get_by_test_id("permit-issuing").wait_for()
    issued = page.get_by_test_id("permit-issued")
    issued.wait_for(timeout=ISSUE_TIMEOUT_MS)
    with live_platform.sessions() as db:
        permit = db.scalars(select(Permit).where(Permit.submission_id == case.submission_id)).one()
        assert db.get(Submission, case.submission_id).state is SubmissionState.PERMITTED
    assert permit.number in issued.inner_text()
    page.screenshot(path=str(screenshots / "permit-issued.png"), full_page=True)

    page.get_by_test_id("nav-licences").click()
    page.get_by_test_id("licence-code").fill(case.project_code[-6:])
    page.get_by_test_id("licence-code").press("Enter")
    page.wait_for_url("**/licences?project_code=*")
    assert page.get_by_test_id("licence-row").count() == 2
    page.screenshot(path=str(screenshots / "permit-licence-library.png"), full_page=True)
    page.get_by_test_id("logout").click()

    _sign_in(page, live_server, "designer")
    page.goto(f"{live_server}/submissions/{case.submission_id}")
    downloads = page.get_by_test_id("result-downloads")
    downloads.wait_for()
    page.screenshot(path=str(screenshots / "permit-designer-downloads.png"), full_page=True)
    with page.expect_download() as permit_download:
        page.get_by_test_id("download-permit").click()
    permit_path = tmp_path / "permit.pdf"
    permit_download.value.save_as(permit_path)
    assert permit_path.read_bytes().startswith(b"%PDF")
    with page.expect_download() as result_download:
        page.get_by_test_id("download-result").click()
    result_path = tmp_path / "result.pdf"
    result_download.value.save_as(result_path)
    assert result_path.read_bytes() == final
    context.close()

    public = chromium.new_context(locale="zh-CN", viewport={"width": 1100, "height": 900}).new_page()
    public.goto(f"{live_server}/verify/{case.review_number}")
    assert public.get_by_test_id("verdict").get_attribute("data-valid") == "true"
    assert "验证通过" in public.get_by_test_id("verdict").inner_text()
    public.screenshot(path=str(screenshots / "permit-public-valid.png"), full_page=True)
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(_tampered(final))
    public.get_by_test_id("verify-file").set_input_files(str(tampered))
    public.get_by_test_id("verify-submit").click()
    public.get_by_test_id("checked-file").wait_for()
    assert public.get_by_test_id("verdict").get_attribute("data-valid") == "false"
    assert "签章后文档被修改" in public.get_by_test_id("verdict-reasons").inner_text()
    public.screenshot(path=str(screenshots / "permit-public-tampered.png"), full_page=True)
    public.get_by_test_id("verify-file").set_input_files(str(permit_path))
    public.get_by_test_id("verify-submit").click()
    public.wait_for_load_state()
    assert public.get_by_test_id("verdict").get_attribute("data-valid") == "true"
    public.context.close()
