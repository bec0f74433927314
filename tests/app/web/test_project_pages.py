"""The designer's pages: new project form, project page, new submission, submission page, submit for review."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from app.platform import Platform
from app.tasks.celery_app import build_celery, set_celery
from storage.models import DrawingFile, Project, Submission, SubmissionState
from tests.app.web.test_upload_api import PROJECT_FORM, drawing_pdf
from tests.support.web import TestClient, csrf_token, sign_in


@pytest.fixture(autouse=True)
def memory_broker(web_platform: Platform) -> Iterator[None]:
    set_celery(build_celery(web_platform.settings))
    yield
    set_celery(None)


def create(client: TestClient, **changes: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/projects/new")
    return client.post("/projects", data={**PROJECT_FORM, **changes, "csrf_token": token})


def test_designer_creates_a_project_and_opens_a_submission(client, web_platform) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, web_platform, "designer")
    home = client.get("/")
    assert 'href="/projects/new"' in home.text
    form = client.get("/projects/new")
    assert form.status_code == 200
    for label in ("项目名称", "耐火等级", "人防面积（m²）", "总建筑面积（m²）", "地下层数"):
        assert label in form.text

    created = create(client)
    assert created.status_code == 303
    project_url = created.headers["location"]
    page = client.get(project_url)
    assert "滨江实验小学" in page.text
    assert "12500" in page.text
    assert "二级" in page.text
    assert "本项目尚未报审" in page.text
    assert "南京市建邺区教育局" in page.text
    assert 'href="/projects/' in client.get("/").text

    token = csrf_token(client, project_url)
    opened = client.post(f"{project_url}/submissions", data={"csrf_token": token})
    assert opened.status_code == 303
    submission_page = client.get(opened.headers["location"])
    assert submission_page.status_code == 200
    assert "草稿" in submission_page.text
    assert "尚未上传图纸" in submission_page.text
    assert 'data-testid="file-input"' in submission_page.text
    assert re.search(r'data-testid="submit-review"[^>]*disabled', submission_page.text)
    assert "报审 #" in client.get(project_url).text


def test_wrong_fields_are_shown_beside_them_with_values_kept(client, web_platform) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, web_platform, "designer")
    answer = create(client, floors_above="三", height_m="-5", fire_resistance_rating="五级", name="")
    assert answer.status_code == 400
    assert 'data-testid="error-floors_above"' in answer.text
    assert "地上层数应为整数" in answer.text
    assert 'data-testid="error-height_m"' in answer.text
    assert 'data-testid="error-fire_resistance_rating"' in answer.text
    assert 'data-testid="error-name"' in answer.text
    assert 'value="江苏省南京市建邺区"' in answer.text  # kept
    assert 'value="三"' in answer.text
    with web_platform.sessions() as db:
        assert db.scalars(select(Project)).all() == []

    assert create(client).status_code == 303
    taken = create(client, name="另一个项目")
    assert taken.status_code == 400
    assert "该项目编号已被使用" in taken.text

    client.post("/locale", data={"locale": "en", "next": "/", "csrf_token": csrf_token(client, "/")})
    english = create(client, gross_floor_area_m2="abc")
    assert "Gross floor area (m²)" in english.text
    assert "the gross floor area must be a number" in english.text


def test_upload_then_submit_for_review(client, web_platform) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, web_platform, "designer")
    project_url = create(client).headers["location"]
    token = csrf_token(client, project_url)
    submission_url = client.post(f"{project_url}/submissions", data={"csrf_token": token}).headers["location"]
    submission_id = int(submission_url.rsplit("/", 1)[1])
    content = drawing_pdf(1)
    uploaded = client.post(
        f"/api/v1/submissions/{submission_id}/files?name=总平面图.pdf",
        content=content,
        headers={"X-CSRF-Token": csrf_token(client, submission_url)},
    )
    assert uploaded.status_code == 201
    page = client.get(submission_url)
    assert "总平面图.pdf" in page.text
    assert uploaded.json()["sha256"][:12] in page.text
    assert "等待校验" in page.text
    assert "王建国" in page.text

    token = csrf_token(client, submission_url)
    assert client.post(f"{submission_url}/submit", data={"version": "1"}).status_code == 403  # no CSRF token
    with web_platform.sessions() as db:
        version = db.get(Submission, submission_id).version  # type: ignore[union-attr]
    submitted = client.post(f"{submission_url}/submit", data={"version": str(version), "csrf_token": token})
    assert submitted.status_code == 303
    after = client.get(submission_url)
    assert "已提交" in after.text
    assert 'data-testid="upload-closed"' in after.text
    with web_platform.sessions() as db:
        assert db.get(Submission, submission_id).state is SubmissionState.SUBMITTED  # type: ignore[union-attr]
        assert len(db.scalars(select(DrawingFile)).all()) == 1


def test_other_users_cannot_see_or_create(client, web_platform) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, web_platform, "designer")
    project_url = create(client).headers["location"]
    sign_in(client, web_platform, "fire.reviewer")
    assert client.get(project_url).status_code == 404
    assert client.get("/projects/new").status_code == 403
    token = csrf_token(client, "/")
    assert client.post(f"{project_url}/submissions", data={"csrf_token": token}).status_code == 404


def test_the_construction_unit_is_required_in_both_languages(client, web_platform) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, web_platform, "designer")
    form = client.get("/projects/new")
    assert 'id="f-construction_unit"' in form.text
    answer = create(client, construction_unit="   ")
    assert answer.status_code == 400
    assert 'data-testid="error-construction_unit"' in answer.text
    assert "请填写建设单位" in answer.text
    client.post("/locale", data={"locale": "en", "next": "/", "csrf_token": csrf_token(client, "/")})
    english = create(client, construction_unit="x" * 201)
    assert "the construction unit is longer than 200 characters" in english.text
    with web_platform.sessions() as db:
        assert db.scalars(select(Project)).all() == []


def test_a_project_without_construction_unit_shows_and_is_completed_on_the_edit_page(client, web_platform) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, web_platform, "designer")
    project_url = create(client).headers["location"]
    with web_platform.sessions() as db:
        project = db.scalars(select(Project)).one()
        project.construction_unit = ""  # a project from before the field existed
        db.commit()
    page = client.get(project_url)
    assert page.status_code == 200
    assert re.search(r'data-testid="project-construction-unit">未登记<', page.text)
    assert f'href="{project_url}/edit"' in page.text

    edit = client.get(f"{project_url}/edit")
    assert edit.status_code == 200
    assert f'action="{project_url}"' in edit.text
    assert re.search(r'id="f-code"[^>]*value="JC-2026-0101"[^>]*readonly', edit.text)
    assert 'value="12500"' in edit.text  # figures as entered, not 12500.0
    assert 'value="18.6"' in edit.text
    token = csrf_token(client, f"{project_url}/edit")
    values = {**PROJECT_FORM, "csrf_token": token}
    wrong = client.post(project_url, data={**values, "construction_unit": ""})
    assert wrong.status_code == 400
    assert "请填写建设单位" in wrong.text
    saved = client.post(project_url, data={**values, "construction_unit": " 南京市建邺区教育局 ", "code": "OTHER-1"})
    assert saved.status_code == 303
    assert saved.headers["location"] == project_url
    with web_platform.sessions() as db:
        project = db.scalars(select(Project)).one()
        assert project.construction_unit == "南京市建邺区教育局"
        assert project.code == "JC-2026-0101"  # the code is not editable
    assert re.search(r'data-testid="project-construction-unit">南京市建邺区教育局<', client.get(project_url).text)

    sign_in(client, web_platform, "fire.reviewer")
    assert client.get(f"{project_url}/edit").status_code == 404
