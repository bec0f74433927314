"""Round pages: the lead concludes, the designer answers and resubmits, letters and overlays for their readers."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pymupdf
import pytest
from sqlalchemy import select

from app.identity.principal import principal_from_user
from app.platform import Platform
from app.review_desk.comments import create_comment
from app.review_desk.markups import create_markup
from app.rounds.conclude import conclude_track
from storage.db import transaction
from storage.models import (
    Comment,
    DrawingFile,
    OpinionLetter,
    Project,
    RevisionComparison,
    Round,
    Sheet,
    SheetRevision,
    Submission,
    SubmissionState,
    TrackReview,
    TrackReviewState,
    User,
)
from tests.app.rounds.helpers import clause_id
from tests.support.web import csrf_token, sign_in

SCRIPT = "<script>alert('x')</script>"


@dataclass(frozen=True)
class Made:
    submission_id: int
    round_id: int
    revision_id: int
    comment_id: int


def _sheet_pdf(label: str = "建施-01") -> bytes:
    document = pymupdf.open()
    page = document.new_page(width=842, height=595)
    page.draw_rect(pymupdf.Rect(20, 20, 822, 575))
    page.insert_text((100, 200), f"{label} 一层平面图 防火分区", fontname="china-s", fontsize=14)
    data = document.tobytes()
    document.close()
    return bytes(data)


def _user(db, username: str):  # type: ignore[no-untyped-def]
    return principal_from_user(db.scalars(select(User).where(User.username == username)).one())


def make_case(platform: Platform, *, comment: bool = True) -> Made:
    """A submission of the demo designer in its first round, fire in review, one sheet with a marked comment."""
    pdf = _sheet_pdf()
    info = platform.store.put_original(io.BytesIO(pdf), content_type="application/pdf")
    with transaction(platform.sessions) as db:
        designer = db.scalars(select(User).where(User.username == "designer")).one()
        project = Project(organization_id=designer.organization_id, code="JC-2026-0777", name="滨江小学教学楼")
        db.add(project)
        db.flush()
        submission = Submission(project_id=project.id, state=SubmissionState.IN_REVIEW, review_number="SC-2026-0777")
        db.add(submission)
        db.flush()
        round_ = Round(submission_id=submission.id, number=1)
        db.add(round_)
        db.flush()
        db.add(TrackReview(round_id=round_.id, track_code="fire", state=TrackReviewState.IN_REVIEW))
        drawing = DrawingFile(
            submission_id=submission.id,
            round_id=round_.id,
            sha256=info.sha256,
            size=info.size,
            original_name="建施-01.pdf",
            media_type="application/pdf",
            object_key=info.key,
            status="split",
            findings={},
        )
        db.add(drawing)
        sheet = Sheet(submission_id=submission.id, number="建施-01", title="一层平面图")
        db.add(sheet)
        db.flush()
        revision = SheetRevision(
            sheet_id=sheet.id,
            round_id=round_.id,
            drawing_file_id=drawing.id,
            width_pt=842,
            height_pt=595,
            pdf_key=info.key,
            status="ready",
        )
        db.add(revision)
        db.flush()
        comment_id = 0
        if comment:
            reviewer = _user(db, "fire.reviewer")
            markup = create_markup(
                db, reviewer, revision.id, "fire", {"kind": "rectangle", "points": [[90, 170], [300, 220]]}
            )
            comment_id = create_comment(
                db,
                reviewer,
                revision.id,
                track="fire",
                severity="mandatory",
                text=f"疏散宽度不足 {SCRIPT}",
                clause_ids=[clause_id()],
                markup_ids=[markup.id],
            ).id
        return Made(submission.id, round_.id, revision.id, comment_id)


def _post(client, path: str, data: dict[str, str], files=None):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/")
    return client.post(path, data={"csrf_token": token, **data}, files=files)


def test_lead_concludes_on_the_rounds_page(client, web_platform: Platform) -> None:  # type: ignore[no-untyped-def]
    made = make_case(web_platform, comment=False)
    sign_in(client, web_platform, "fire.lead")
    page = client.get(f"/rounds/submissions/{made.submission_id}")
    assert page.status_code == 200
    assert 'data-testid="conclude-form" data-track="fire"' in page.text
    action = f"/rounds/submissions/{made.submission_id}/rounds/{made.round_id}/tracks/fire/conclude"
    refused = _post(client, action, {"outcome": "revise", "note": "请修改"})
    assert refused.status_code == 400
    assert "至少应有一条待答复" in refused.text
    assert "a conclusion of revise needs at least one open comment" in refused.text
    done = _post(client, action, {"outcome": "passed", "note": "符合要求"})
    assert done.status_code == 303
    shown = client.get(done.headers["location"])
    assert 'data-testid="track-state">通过' in shown.text
    assert "符合要求" in shown.text
    with web_platform.sessions() as db:
        assert db.get_one(Submission, made.submission_id).state is SubmissionState.PASSED

    sign_in(client, web_platform, "fire.reviewer")  # a reviewer may not conclude
    assert client.get(f"/rounds/submissions/{made.submission_id}").status_code == 200
    assert _post(client, action, {"outcome": "passed"}).status_code in (403, 409)


def test_designer_answers_then_resubmits_and_then_cannot_act(client, web_platform: Platform) -> None:  # type: ignore[no-untyped-def]
    made = make_case(web_platform)
    with transaction(web_platform.sessions) as db:
        conclude_track(db, _user(db, "fire.lead"), made.round_id, "fire", "revise")
    sign_in(client, web_platform, "designer")
    answers = f"/rounds/submissions/{made.submission_id}/answers"
    page = client.get(answers)
    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
    assert SCRIPT not in page.text
    assert 'data-testid="unanswered-count">待答复 1 条' in page.text

    with web_platform.sessions() as db:
        version = db.get_one(Submission, made.submission_id).version
    refused = _post(client, f"/rounds/submissions/{made.submission_id}/resubmit", {"version": str(version)})
    assert refused.status_code == 400
    assert "以下审查意见尚未答复" in refused.text
    assert "XF-1" in refused.text

    with web_platform.sessions() as db:
        comment_version = db.get_one(Comment, made.comment_id).version
    answered = _post(
        client,
        f"/rounds/submissions/{made.submission_id}/answers/{made.comment_id}",
        {"version": str(comment_version), "text": "已加宽疏散走道至 1.8 m"},
        files={"attachment": ("计算书.pdf", _sheet_pdf("计算书"), "application/pdf")},
    )
    assert answered.status_code == 303, answered.text
    page = client.get(answers)
    assert 'data-status="answered"' in page.text
    assert "计算书.pdf" in page.text

    with web_platform.sessions() as db:
        version = db.get_one(Submission, made.submission_id).version
    done = _post(client, f"/rounds/submissions/{made.submission_id}/resubmit", {"version": str(version)})
    assert done.status_code == 303, done.text
    page = client.get(answers)
    assert 'data-testid="not-holding"' in page.text
    assert 'data-testid="answer-form"' not in page.text
    with web_platform.sessions() as db:
        assert db.get_one(Submission, made.submission_id).state is SubmissionState.SUBMITTED
        version = db.get_one(Comment, made.comment_id).version
        # The sheet was not resubmitted: it is carried into round 2 with its comment.
        carried = db.scalars(select(Comment).where(Comment.carried_from_id == made.comment_id)).one()
        assert carried.status == "answered"
    again = _post(
        client,
        f"/rounds/submissions/{made.submission_id}/answers/{made.comment_id}",
        {"version": str(version), "text": "补充"},
    )
    assert again.status_code == 409
    assert "不在设计单位修改阶段" in again.text


def test_letters_and_overlays_for_those_who_may_read_them(client, web_platform: Platform) -> None:  # type: ignore[no-untyped-def]
    made = make_case(web_platform, comment=False)
    letter_pdf = _sheet_pdf("意见书")
    png = pymupdf.open(stream=letter_pdf, filetype="pdf")[0].get_pixmap(dpi=20).tobytes("png")
    web_platform.store.put_stream("derived/letters/test.pdf", io.BytesIO(letter_pdf), content_type="application/pdf")
    web_platform.store.put_stream("derived/compare/test.png", io.BytesIO(png), content_type="image/png")
    with transaction(web_platform.sessions) as db:
        letter = OpinionLetter(
            round_id=made.round_id, track_code=None, object_key="derived/letters/test.pdf", sha256="0" * 64
        )
        db.add(letter)
        db.add(
            RevisionComparison(
                sheet_revision_id=made.revision_id,
                previous_revision_id=made.revision_id,
                overlay_key="derived/compare/test.png",
            )
        )
        db.flush()
        letter_id = letter.id
    for username in ("designer", "fire.reviewer", "bureau"):
        sign_in(client, web_platform, username)
        got = client.get(f"/rounds/letters/{letter_id}")
        assert got.status_code == 200, username
        assert got.content == letter_pdf
        assert re.search(r"filename\*=UTF-8''SC-2026-0777", got.headers["content-disposition"])
    overlay = f"/api/v1/sheet-revisions/{made.revision_id}/compare/overlay.png"
    shown = client.get(overlay)
    assert shown.status_code == 200
    assert shown.headers["content-type"] == "image/png"
    etag = shown.headers["etag"]
    assert client.get(overlay, headers={"If-None-Match": etag}).status_code == 304
    # Weak comparison (RFC 9110 13.1.2), in a list of tags: a cache that weakened the tag still revalidates.
    assert client.get(overlay, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert client.get(overlay, headers={"If-None-Match": '"other"'}).status_code == 200
    both = client.get(f"/api/v1/sheet-revisions/{made.revision_id}/compare/side-by-side.pdf")
    assert both.status_code == 200
    with pymupdf.open(stream=both.content, filetype="pdf") as document:
        assert document.page_count == 1
        assert document[0].rect.width > 2 * 842
        assert "/ old" in document[0].get_text()
    sign_in(client, web_platform, "airdef.reviewer")  # not routed to this submission
    assert client.get(f"/rounds/letters/{letter_id}").status_code == 404
    assert client.get(overlay).status_code == 404
    assert client.get(f"/api/v1/sheet-revisions/{made.revision_id}/compare/side-by-side.pdf").status_code == 404
    sign_in(client, web_platform, "fire.reviewer")
    assert client.get(f"/api/v1/sheet-revisions/{made.revision_id + 999}/compare/overlay.png").status_code == 404


@pytest.mark.parametrize("path", ["/rounds/submissions/{sid}", "/rounds/submissions/{sid}/answers"])
def test_pages_of_other_institutes_submissions_are_not_found(client, web_platform: Platform, path: str) -> None:  # type: ignore[no-untyped-def]
    made = make_case(web_platform, comment=False)
    sign_in(client, web_platform, "airdef.reviewer")
    assert client.get(path.format(sid=made.submission_id)).status_code == 404


def _upload_renumbered(platform: Platform, made: Made) -> int:
    """The designer's revised sheet under a new number (建施-02) in round 2, split as intake records it."""
    pdf = _sheet_pdf()
    info = platform.store.put_original(io.BytesIO(pdf), content_type="application/pdf")
    with transaction(platform.sessions) as db:
        current = db.scalars(select(Round).where(Round.submission_id == made.submission_id, Round.number == 2)).one()
        drawing = DrawingFile(
            submission_id=made.submission_id,
            round_id=current.id,
            sha256=info.sha256,
            size=info.size,
            original_name="建施-02.pdf",
            media_type="application/pdf",
            object_key=info.key,
            status="split",
            findings={},
        )
        sheet = Sheet(submission_id=made.submission_id, number="建施-02", title="一层平面图")
        db.add_all([drawing, sheet])
        db.flush()
        revision = SheetRevision(
            sheet_id=sheet.id,
            round_id=current.id,
            drawing_file_id=drawing.id,
            width_pt=842,
            height_pt=595,
            pdf_key=info.key,
            status="ready",
        )
        db.add(revision)
        db.flush()
        return revision.id


@pytest.mark.browser
def test_rounds_in_a_browser(chromium, live_server, screenshots, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from app.rounds.letters import build_round_letters
    from app.seed import DEMO_PASSWORD
    from app.settings import load_settings
    from storage.db import make_engine
    from tests.support.web import web_settings_env

    settings = load_settings(web_settings_env(tmp_path / "live"))
    platform = Platform(settings, _engine=make_engine(settings.effective_database_url))
    made = make_case(platform)
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()

    def sign_in_as(username: str) -> None:
        context.clear_cookies()
        page.goto(f"{live_server}/login")
        page.fill("#username", username)
        page.fill("#password", DEMO_PASSWORD)
        page.get_by_test_id("login-submit").click()
        page.wait_for_url(f"{live_server}/")

    try:
        sign_in_as("fire.lead")
        page.goto(f"{live_server}/rounds/submissions/{made.submission_id}")
        form = page.locator('[data-testid="conclude-form"][data-track="fire"]')
        form.locator('input[value="revise"]').check()
        form.locator("textarea").fill("疏散宽度不足，请修改后重新报审")
        page.screenshot(path=screenshots / "rounds-conclude.png", full_page=True)
        form.get_by_test_id("conclude").click()
        page.wait_for_url(f"{live_server}/rounds/submissions/{made.submission_id}?done=concluded")
        assert page.get_by_test_id("track-state").inner_text() == "需修改"
        assert page.get_by_test_id("submission-state").inner_text() == "修改中"

        build_round_letters(platform.sessions, platform.store, made.round_id)
        with platform.sessions() as db:
            key = db.scalars(select(OpinionLetter.object_key).where(OpinionLetter.track_code.is_(None))).one()
        with platform.store.open(key) as stream, pymupdf.open(stream=stream.read(), filetype="pdf") as letter:
            letter[0].get_pixmap(dpi=80).save(str(screenshots / "rounds-letter-page1.png"))
            if letter.page_count > 1:
                letter[1].get_pixmap(dpi=80).save(str(screenshots / "rounds-letter-page2.png"))

        sign_in_as("designer")
        page.goto(f"{live_server}/rounds/submissions/{made.submission_id}/answers")
        assert page.get_by_test_id("letter").count() == 2
        assert SCRIPT in page.get_by_test_id("comment").inner_text()  # shown as text
        page.get_by_test_id("resubmit").click()
        assert "XF-1" in page.get_by_test_id("problem").inner_text()
        page.screenshot(path=screenshots / "rounds-answers-refused.png", full_page=True)
        page.locator('[data-testid="answer-form"] textarea').fill("已将疏散走道加宽至 1.8 m，见修改后的建施-01")
        page.get_by_test_id("answer").click()
        page.wait_for_url(f"{live_server}/rounds/submissions/{made.submission_id}/answers?done=answered")
        assert page.get_by_test_id("comment-status").inner_text() == "已答复"
        renumbered = _upload_renumbered(platform, made)
        page.reload()
        page.get_by_test_id("resubmit").click()
        page.wait_for_url(f"{live_server}/rounds/submissions/{made.submission_id}/answers?done=resubmitted")
        page.screenshot(path=screenshots / "rounds-answers-resubmitted.png", full_page=True)

        sign_in_as("clerk")
        page.goto(f"{live_server}/rounds/submissions/{made.submission_id}/matches")
        assert page.get_by_test_id("match-row").count() == 1
        assert page.get_by_test_id("to-confirm").inner_text() == "待确认 1 张"
        row = page.locator('[data-testid="match-row"][data-number="建施-02"]')
        assert row.get_by_test_id("matched-by").inner_text() == "按内容（待确认）"
        page.screenshot(path=screenshots / "rounds-matches.png", full_page=True)
        row.get_by_test_id("confirm-match").click()
        page.wait_for_url(f"{live_server}/rounds/submissions/{made.submission_id}/matches?done=matched")
        row = page.locator('[data-testid="match-row"][data-number="建施-02"]')
        assert row.get_by_test_id("matched-by").inner_text() == "受理窗口确认"
        with platform.sessions() as db:
            assert db.get_one(RevisionComparison, renumbered).matched_by == "clerk"
    finally:
        context.close()
        platform.close()
