"""Seal pages: administrators manage certificates and seals; departments sign the result in turn."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select

from app.platform import Platform
from app.sealing import compose
from app.seed import DEMO_PASSWORD
from storage.db import make_engine, make_session_factory, transaction
from storage.models import Organization, SealImage, SigningIdentity
from tests.app.sealing.conftest import Case, build_case
from tests.support.pki import PASSWORD, SigningPki
from tests.support.web import csrf_token, sign_in

VERSION = re.compile(r'name="version" value="(\d+)"')


@pytest.fixture
def web_settings_overrides(tmp_path: Path, test_pki: SigningPki) -> dict[str, str]:
    root = tmp_path / "trust-root.pem"
    root.write_bytes(
        x509.load_der_x509_certificate(test_pki.pki.root_certificate).public_bytes(serialization.Encoding.PEM)
    )
    return {"trust_roots": str(root), "tsa_url": test_pki.timestamp_url}


def _fire(platform: Platform) -> int:
    with platform.sessions() as db:
        org_id = db.scalar(select(Organization.id).where(Organization.department_code == "fire"))
    assert org_id is not None
    return org_id


def _count(platform: Platform, model: type) -> int:
    with platform.sessions() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_only_administrators_see_the_seal_administration(client, web_platform: Platform) -> None:
    sign_in(client, web_platform, "designer")
    assert client.get("/admin/seals").status_code == 403
    sign_in(client, web_platform, "admin")
    page = client.get("/admin/seals")
    assert page.status_code == 200
    assert "签章证书与印章" in page.text
    assert "江城市消防救援支队" in page.text
    assert "江城市建筑设计研究院" not in page.text  # design institutes do not seal
    assert page.text.count('data-testid="sealing-no-identity"') >= 4  # three departments and the bureau


def test_a_certificate_is_imported_and_a_wrong_password_is_refused(
    client, web_platform: Platform, test_pki: SigningPki
) -> None:
    sign_in(client, web_platform, "admin")
    fire = _fire(web_platform)

    def post(password: str):  # type: ignore[no-untyped-def]
        token = csrf_token(client, "/admin/seals")
        return client.post(
            "/admin/seals/identities",
            data={"csrf_token": token, "organization_id": str(fire), "password": password},
            files={"pkcs12": ("fire.p12", test_pki.pki.signers["fire"], "application/x-pkcs12")},
        )

    refused = post("wrong")
    assert refused.status_code == 400
    assert "密码错误" in refused.text
    assert "wrong password" in refused.text
    assert _count(web_platform, SigningIdentity) == 0

    accepted = post(PASSWORD.decode())
    assert accepted.status_code == 303
    assert accepted.headers["location"] == "/admin/seals?done=imported"
    page = client.get("/admin/seals?done=imported")
    assert "签章证书已导入" in page.text
    assert "某市消防救援支队" in page.text
    assert _count(web_platform, SigningIdentity) == 1


def test_a_seal_is_generated_and_previewed_and_a_bad_upload_refused(client, web_platform: Platform) -> None:
    sign_in(client, web_platform, "admin")
    fire = _fire(web_platform)
    token = csrf_token(client, "/admin/seals")
    generated = client.post(
        "/admin/seals/images/generate",
        data={"csrf_token": token, "organization_id": str(fire), "purpose": "消防审查专用章"},
    )
    assert generated.status_code == 303
    page = client.get("/admin/seals")
    found = re.search(r'src="/seals/(\d+)\.png"', page.text)
    assert found
    image = client.get(f"/seals/{found.group(1)}.png")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")

    refused = client.post(
        "/admin/seals/images",
        data={"csrf_token": token, "organization_id": str(fire), "purpose": ""},
        files={"seal": ("seal.jpg", b"\xff\xd8\xff\xe0 not a png", "image/jpeg")},
    )
    assert refused.status_code == 400
    assert "PNG" in refused.text
    assert _count(web_platform, SealImage) == 1


@pytest.fixture
def composed(web_platform: Platform, test_pki: SigningPki) -> Case:
    with transaction(web_platform.sessions) as session:
        case = build_case(session, web_platform.store, web_platform.settings, test_pki)
    with transaction(web_platform.sessions) as session:
        compose.compose_result(session, web_platform.store, web_platform.settings, case.submission_id)
    return case


def test_departments_sign_in_turn_on_the_signing_page(client, web_platform: Platform, composed: Case) -> None:
    path = f"/submissions/{composed.submission_id}/result"
    sign_in(client, web_platform, "construction.signer")
    early = client.get(path)
    assert early.status_code == 200
    assert 'data-testid="sign"' not in early.text
    assert "尚未轮到" in early.text
    version = VERSION.search(client.get(path).text)
    assert version is None

    sign_in(client, web_platform, "fire.signer")
    page = client.get(path)
    assert 'data-testid="sign"' in page.text
    assert 'src="/submissions/' in page.text  # the result is read in the page
    pdf = client.get(f"{path}/view.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["x-frame-options"] == "SAMEORIGIN"
    found = VERSION.search(page.text)
    assert found
    signed = client.post(f"{path}/sign", data={"csrf_token": csrf_token(client, path), "version": found.group(1)})
    assert signed.status_code == 303
    after = client.get(signed.headers["location"])
    assert "已签章，联审结果已通知下一签章单位" in after.text
    assert after.text.count('data-signed="true"') == 1

    # The same department again, with the page it had: refused, nothing changes.
    again = client.post(f"{path}/sign", data={"csrf_token": csrf_token(client, path), "version": found.group(1)})
    assert again.status_code == 409
    assert client.get(path).text.count('data-signed="true"') == 1

    # Out of turn: the last department before the second.
    sign_in(client, web_platform, "construction.signer")
    current = VERSION.search(client.get(f"/submissions/{composed.submission_id}/result").text)
    assert current is None
    out_of_turn = client.post(f"{path}/sign", data={"csrf_token": csrf_token(client, path), "version": "2"})
    assert out_of_turn.status_code == 409
    assert "尚未轮到本单位签章" in out_of_turn.text
    assert "It is not your turn yet" in out_of_turn.text


def test_the_result_is_not_served_to_anonymous_visitors(client, composed: Case) -> None:
    response = client.get(f"/submissions/{composed.submission_id}/result/view.pdf")
    assert response.status_code in (303, 401)
    assert not response.content.startswith(b"%PDF")


# Browser ---------------------------------------------------------------------------------------


def _login(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"{base}/")


def test_browser_admin_generates_a_seal_and_signers_seal_in_turn(
    chromium, live_server: str, tmp_path: Path, test_pki: SigningPki, screenshots: Path
) -> None:
    from app.settings import load_settings

    data_dir = tmp_path / "live"
    settings = load_settings(
        {
            "LIANTU_DATA_DIR": str(data_dir),
            "LIANTU_DATABASE_URL": f"sqlite:///{data_dir / 'liantu.sqlite3'}",
            "LIANTU_SECRET_KEY": "test-secret-key-for-signed-session-cookies-0123456789",
            "LIANTU_TRUST_ROOTS": str(tmp_path / "trust-root.pem"),
            "LIANTU_TSA_URL": test_pki.timestamp_url,
        }
    )
    engine = make_engine(settings.effective_database_url)
    platform = Platform(settings, _engine=engine)
    try:
        with transaction(make_session_factory(engine)) as session:
            case = build_case(session, platform.store, settings, test_pki)
        with transaction(make_session_factory(engine)) as session:
            compose.compose_result(session, platform.store, settings, case.submission_id)
    finally:
        platform.close()

    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _login(page, live_server, "admin")
    page.goto(f"{live_server}/admin/seals")
    page.get_by_test_id("sealing-generate").click()
    page.wait_for_url(re.compile(r".*done=generated"))
    assert page.get_by_test_id("sealing-done").is_visible()
    previews = page.get_by_test_id("sealing-seal-preview")
    assert previews.count() >= 3
    assert previews.first.evaluate("img => img.naturalWidth") > 0
    page.screenshot(path=screenshots / "sealing-admin.png", full_page=True)
    page.get_by_test_id("locale-switch").click()
    page.wait_for_load_state()
    assert "Certificates and seals" in page.locator("h1").inner_text()
    page.screenshot(path=screenshots / "sealing-admin-en.png", full_page=True)
    context.close()

    for username in ("fire.signer", "airdef.signer", "construction.signer"):
        context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        page = context.new_page()
        _login(page, live_server, username)
        page.goto(f"{live_server}/submissions/{case.submission_id}/result")
        if username == "fire.signer":
            page.screenshot(path=screenshots / "sealing-result-before.png", full_page=True)
        page.get_by_test_id("sign").click()
        page.wait_for_url(re.compile(r".*done=(signed|sealed)"), timeout=60_000)
        assert page.get_by_test_id("sealing-done").is_visible()
        context.close()
    assert page is not None
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _login(page, live_server, "construction.signer")
    page.goto(f"{live_server}/submissions/{case.submission_id}/result")
    assert page.get_by_test_id("result-sealed").is_visible()
    assert page.get_by_test_id("seal-step").count() == 3
    assert "已签章" in page.get_by_test_id("result-state").inner_text()
    page.screenshot(path=screenshots / "sealing-result-sealed.png", full_page=True)
    context.close()


def test_a_failed_composition_is_shown_and_an_administrator_queues_it_again(
    client, web_platform: Platform, test_pki: SigningPki
) -> None:
    import uuid

    from storage.models import TaskRun, TaskState

    with transaction(web_platform.sessions) as session:
        case = build_case(session, web_platform.store, web_platform.settings, test_pki, with_identities=False)
        session.add(
            TaskRun(
                id=uuid.uuid4().hex,
                name=compose.COMPOSE_RESULT,
                object_type="submission",
                object_id=str(case.submission_id),
                state=TaskState.FAILED,
                message="专项 lightning 没有负责签章的主管部门 / No department seals track lightning",
            )
        )
    path = f"/submissions/{case.submission_id}/result"
    sign_in(client, web_platform, "fire.signer")
    assert client.post(f"{path}/compose", data={"csrf_token": csrf_token(client, "/")}).status_code == 403

    sign_in(client, web_platform, "admin")
    page = client.get(path)
    assert 'data-testid="compose-failed"' in page.text
    assert "没有负责签章的主管部门" in page.text
    assert 'data-testid="recompose"' in page.text
    queued = client.post(f"{path}/compose", data={"csrf_token": csrf_token(client, path)})
    assert queued.status_code == 303
    with web_platform.sessions() as db:
        runs = db.scalars(select(TaskRun.state).where(TaskRun.name == compose.COMPOSE_RESULT)).all()
    assert sorted(runs) == sorted([TaskState.FAILED, TaskState.QUEUED])
