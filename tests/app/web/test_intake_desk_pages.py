"""The intake clerk's page: who may open it, what it shows, its forms and their refusals."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.platform import Platform
from app.seed import DESIGN_INSTITUTE
from storage.db import transaction
from storage.models import (
    AuditEvent,
    DrawingFile,
    Organization,
    Project,
    Sheet,
    SheetTrack,
    Submission,
    SubmissionState,
    TrackReview,
)
from tests.app.test_intake_desk import COMPLETE, add_sheets, without
from tests.support.web import TestClient, csrf_token, sign_in


def make_submission(
    platform: Platform,
    sheets: tuple[tuple[str, str], ...] = COMPLETE,
) -> int:
    """A submitted case of the demo design institute, with its sheets recorded as intake would."""
    with transaction(platform.sessions) as db:
        institute = db.scalars(select(Organization).where(Organization.name == DESIGN_INSTITUTE)).one()
        project = Project(
            code=f"P-INTAKE-{len(sheets)}",
            name="滨江实验小学",
            organization_id=institute.id,
            address="南京市建邺区",
            building_use="学校",
            floors_above=3,
            floors_below=0,
            height_m=15.0,
            gross_floor_area_m2=5000.0,
            fire_resistance_rating="二级",
            civil_air_defence_area_m2=0.0,
        )
        submission = Submission(state=SubmissionState.SUBMITTED)
        project.submissions.append(submission)
        db.add(project)
        db.flush()
        add_sheets(db, submission.id, sheets)
        return submission.id


def url(submission_id: int, tail: str = "") -> str:
    return f"/intake/submissions/{submission_id}{tail}"


def version_of(platform: Platform, submission_id: int) -> int:
    with platform.sessions() as db:
        return db.get_one(Submission, submission_id).version


def post(client: TestClient, platform: Platform, submission_id: int, tail: str, **data: object):  # type: ignore[no-untyped-def]
    token = csrf_token(client, url(submission_id))
    form = {"csrf_token": token, "version": str(version_of(platform, submission_id)), **data}
    return client.post(url(submission_id, tail), data=form)


def test_only_the_clerk_opens_the_page(client: TestClient, web_platform: Platform) -> None:
    submission_id = make_submission(web_platform)
    sign_in(client, web_platform, "designer")
    assert client.get(url(submission_id)).status_code == 403  # their own case, but not their step
    sign_in(client, web_platform, "fire.reviewer")
    assert client.get(url(submission_id)).status_code == 404  # not routed to them yet
    assert client.get(url(999_999)).status_code == 404
    sign_in(client, web_platform, "clerk")
    home = client.get("/")
    assert f'href="/intake/submissions/{submission_id}"' in home.text
    page = client.get(url(submission_id))
    assert page.status_code == 200
    assert "滨江实验小学" in page.text
    assert 'data-testid="track-fire"' in page.text
    assert 'data-testid="track-civil_air_defence"' in page.text
    assert 'data-testid="track-lightning"' not in page.text  # disabled track
    assert page.text.count('data-testid="item-missing-essential"') == 0
    assert 'data-decision="accept"' in page.text
    assert not re.search(r'data-testid="accept"[^>]*disabled', page.text)
    assert re.search(r'data-testid="accept-commitment"[^>]*disabled', page.text)


def test_the_page_shows_missing_items_files_and_findings(client: TestClient, web_platform: Platform) -> None:
    submission_id = make_submission(web_platform, (*without("结施-01", "建施-05"), ("XYZ", "说明")))
    with transaction(web_platform.sessions) as db:
        db.add(
            DrawingFile(
                submission_id=submission_id,
                sha256="f" * 64,
                size=10,
                original_name="加密.pdf",
                media_type="application/pdf",
                object_key="originals/ff",
                status="rejected",
                findings={
                    "intake": [{"code": "FILE_UNREADABLE", "severity": "error", "zh": "文件已加密", "en": "encrypted"}]
                },
            )
        )
    sign_in(client, web_platform, "clerk")
    page = client.get(url(submission_id)).text
    assert 'data-item="structure_description"' in page
    assert page.count('data-testid="item-missing-essential"') == 2
    assert 'data-decision="return"' in page
    assert re.search(r'data-testid="accept"[^>]*disabled', page)
    assert 'data-code="SHEET_NUMBER_GAP"' in page
    assert 'data-code="SHEET_NUMBER_UNRECOGNISED"' in page
    assert 'data-testid="file-rejected"' in page
    assert "文件已加密" in page
    assert page.count('data-testid="return-reason"') == 3  # two essential items and the elevations of fire


def test_clerk_corrects_a_sheet_and_a_collision_is_refused(client: TestClient, web_platform: Platform) -> None:
    submission_id = make_submission(web_platform)
    with web_platform.sessions() as db:
        sheet_id = db.scalars(select(Sheet.id).where(Sheet.number == "结施-02")).one()
    sign_in(client, web_platform, "clerk")
    clash = post(client, web_platform, submission_id, f"/sheets/{sheet_id}", number="结施-1", title="梁配筋图")
    assert clash.status_code == 409
    assert "已被本报审的图纸 结施-01 使用" in clash.text
    assert 'value="结施-1"' in clash.text  # kept as typed

    saved = post(
        client,
        web_platform,
        submission_id,
        f"/sheets/{sheet_id}",
        number="结施 03",
        title="二层梁配筋图",
        tracks=["construction", "civil_air_defence"],
        tracks_shown="1",
    )
    assert saved.status_code == 303
    page = client.get(saved.headers["location"]).text
    assert 'data-testid="done"' in page
    assert 'data-number="结施-03"' in page
    assert 'data-testid="overridden"' in page
    with web_platform.sessions() as db:
        rows = db.scalars(select(SheetTrack).where(SheetTrack.sheet_id == sheet_id)).all()
        assert sorted((r.track_code, r.overridden) for r in rows) == [
            ("civil_air_defence", True),
            ("construction", True),
        ]


def test_accept_opens_track_reviews_and_a_stale_page_is_refused(client: TestClient, web_platform: Platform) -> None:
    submission_id = make_submission(web_platform)
    sign_in(client, web_platform, "clerk")
    token = csrf_token(client, url(submission_id))
    stale = client.post(url(submission_id, "/accept"), data={"csrf_token": token, "version": "0", "mode": "plain"})
    assert stale.status_code == 409
    assert "该报审已被他人更新" in stale.text

    accepted = post(client, web_platform, submission_id, "/accept", mode="plain")
    assert accepted.status_code == 303
    page = client.get(accepted.headers["location"]).text
    assert 'data-testid="decided"' in page
    assert 'data-testid="start-review"' in page
    with web_platform.sessions() as db:
        assert db.get_one(Submission, submission_id).state is SubmissionState.ACCEPTED
        assert sorted(db.scalars(select(TrackReview.track_code))) == ["construction", "fire"]
    again = post(client, web_platform, submission_id, "/accept", mode="plain")
    assert again.status_code == 409

    sign_in(client, web_platform, "fire.reviewer")  # routed now: the reviewer sees the case, not the desk
    assert client.get(f"/submissions/{submission_id}/sheets").status_code == 200
    assert client.get(url(submission_id)).status_code == 403


def test_accept_on_commitment_needs_the_text_and_shows_it(client: TestClient, web_platform: Platform) -> None:
    submission_id = make_submission(web_platform, without("电施-01"))
    sign_in(client, web_platform, "clerk")
    page = client.get(url(submission_id)).text
    assert 'data-decision="accept_with_commitment"' in page
    assert re.search(r'data-testid="accept"[^>]*disabled', page)
    empty = post(client, web_platform, submission_id, "/accept", mode="commitment", commitment=" ")
    assert empty.status_code == 400
    assert "请填写设计单位的书面承诺" in empty.text
    plain = post(client, web_platform, submission_id, "/accept", mode="plain")
    assert plain.status_code == 400

    done = post(client, web_platform, submission_id, "/accept", mode="commitment", commitment="十五日内补交电气施工图")
    assert done.status_code == 303
    shown = client.get(done.headers["location"]).text
    assert "容缺受理，承诺：十五日内补交电气施工图" in shown
    with web_platform.sessions() as db:
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == "submission.accept")).one()
        assert "十五日内补交电气施工图" in event.summary


def test_return_sends_the_chosen_reasons(client: TestClient, web_platform: Platform) -> None:
    submission_id = make_submission(web_platform, without("结施-01"))
    sign_in(client, web_platform, "clerk")
    page = client.get(url(submission_id)).text
    reasons = re.findall(r'name="reason" value="([^"]+)"', page)
    assert len(reasons) == 1
    answer = post(client, web_platform, submission_id, "/return", reason=reasons, note="图签缺少注册章\n\n")
    assert answer.status_code == 303
    with web_platform.sessions() as db:
        assert db.get_one(Submission, submission_id).state is SubmissionState.RETURNED
        summary = db.scalars(select(AuditEvent.summary).where(AuditEvent.action == "submission.return")).one()
    assert "结构设计总说明" in summary
    assert "2. 图签缺少注册章" in summary
    sign_in(client, web_platform, "designer")
    designer_page = client.get(f"/submissions/{submission_id}").text
    assert 'data-testid="upload-area"' in designer_page  # they may upload again


def test_the_page_speaks_english_and_warns_of_files_in_progress(client: TestClient, web_platform: Platform) -> None:
    submission_id = make_submission(web_platform, without("电施-01"))
    with transaction(web_platform.sessions) as db:
        db.add(
            DrawingFile(
                submission_id=submission_id,
                sha256="e" * 64,
                size=10,
                original_name="水施.dxf",
                media_type="image/vnd.dxf",
                object_key="originals/ee",
                status="stored",
            )
        )
    sign_in(client, web_platform, "clerk")
    client.post("/locale", data={"locale": "en", "next": "/", "csrf_token": csrf_token(client, "/")})
    page = client.get(url(submission_id)).text
    assert "Accept on commitment" in page
    assert "Fire protection review" in page
    assert 'data-testid="processing"' in page
    assert "1 file(s) are still being processed" in page
    empty = post(client, web_platform, submission_id, "/accept", mode="commitment", commitment="")
    assert empty.status_code == 400
    assert "enter the designer&#39;s written commitment" in empty.text
    assert "请填写设计单位的书面承诺" in empty.text  # the other language beneath
