"""The intake clerk's desk: checklist from stored sheets, manual fixes, accept / accept on commitment / return."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app import fees, intake_desk, submissions
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.identity.principal import Principal
from app.intake.pipeline import process_drawing_file
from app.tracks import ensure_tracks
from review.routing.checklist import IntakeDecision
from review.routing.facts import SheetFacts
from review.routing.rules import route
from storage.blobstore import LocalBlobStore
from storage.models import (
    AuditEvent,
    DrawingFile,
    Organization,
    OrgKind,
    Project,
    Role,
    Round,
    Sheet,
    SheetRevision,
    SheetTrack,
    Submission,
    SubmissionState,
    TrackReview,
    TrackReviewState,
)
from tests.app.intake.makers import title_block_pdf, upload_original

ENABLED = ("fire", "civil_air_defence", "construction")

COMPLETE = (
    ("建施-01", "建筑设计总说明"),
    ("建施-02", "消防设计专篇"),
    ("建施-03", "一层平面图"),
    ("建施-04", "1-1剖面图"),
    ("建施-05", "南立面图"),
    ("建施-06", "总平面图"),
    ("建施-07", "楼梯详图"),
    ("结施-01", "结构设计总说明"),
    ("结施-02", "二层梁配筋图"),
    ("水施-01", "消火栓系统图"),
    ("水施-02", "给排水平面图"),
    ("暖施-01", "通风平面图"),
    ("电施-01", "火灾自动报警系统图"),
)


@dataclass(frozen=True)
class Desk:
    designer: Principal
    clerk: Principal
    reviewer: Principal
    submission_id: int


def _principal(org: Organization, user_id: int, *roles: tuple[Role, str | None]) -> Principal:
    return Principal(
        user_id=user_id,
        username=f"user{user_id}",
        display_name=f"用户{user_id}",
        organization_id=org.id,
        organization_kind=org.kind,
        organization_name=org.name,
        roles=frozenset(roles),
    )


def add_sheets(session: Session, submission_id: int, sheets: tuple[tuple[str, str], ...]) -> None:
    """Sheets as intake records them: one file, a revision each in round 1, tracks routed by the rules."""
    round_ = session.scalar(select(Round).where(Round.submission_id == submission_id))
    if round_ is None:
        round_ = Round(submission_id=submission_id, number=1)
        session.add(round_)
        session.flush()
    drawing = DrawingFile(
        submission_id=submission_id,
        round_id=round_.id,
        sha256=f"{submission_id:064x}",
        size=1000,
        original_name="建施.pdf",
        media_type="application/pdf",
        object_key=f"originals/{submission_id:064x}",
        status="split",
    )
    session.add(drawing)
    session.flush()
    for index, (number, title) in enumerate(sheets):
        facts = SheetFacts.of(number, title)
        sheet = Sheet(submission_id=submission_id, number=facts.number, title=title, discipline=facts.discipline or "")
        sheet.tracks = [SheetTrack(track_code=code) for code in route(facts, ENABLED).tracks]
        session.add(sheet)
        session.flush()
        session.add(
            SheetRevision(
                sheet_id=sheet.id, round_id=round_.id, drawing_file_id=drawing.id, source_index=index, status="ready"
            )
        )
    session.flush()


def make_desk(session: Session, sheets: tuple[tuple[str, str], ...] = COMPLETE) -> Desk:
    ensure_tracks(session)
    institute = Organization(name="市建筑设计研究院", kind=OrgKind.DESIGN_INSTITUTE)
    agency = Organization(name="施工图审查中心", kind=OrgKind.REVIEW_AGENCY)
    session.add_all([institute, agency])
    session.flush()
    project = Project(
        code="P-2026-010",
        name="滨江小学",
        organization_id=institute.id,
        building_use="学校",
        floors_above=3,
        floors_below=0,
        height_m=15.0,
        gross_floor_area_m2=5000.0,
        civil_air_defence_area_m2=0.0,
    )
    submission = Submission(state=SubmissionState.SUBMITTED)
    project.submissions.append(submission)
    session.add(project)
    session.flush()
    add_sheets(session, submission.id, sheets)
    session.commit()
    return Desk(
        designer=_principal(institute, 1, (Role.DESIGNER, None)),
        clerk=_principal(agency, 2, (Role.INTAKE_CLERK, None)),
        reviewer=_principal(agency, 3, (Role.REVIEWER, "fire")),
        submission_id=submission.id,
    )


def without(*numbers: str) -> tuple[tuple[str, str], ...]:
    return tuple(sheet for sheet in COMPLETE if sheet[0] not in numbers)


def _state(session: Session, submission_id: int) -> SubmissionState:
    session.expire_all()
    return session.get_one(Submission, submission_id).state


def test_checklist_of_a_complete_set_allows_plain_acceptance(session: Session) -> None:
    desk = make_desk(session)
    case = intake_desk.load_case(session, desk.clerk, desk.submission_id)
    assert case.tracks == ENABLED
    assert case.options.decision is IntakeDecision.ACCEPT
    fire = case.report.track("fire")
    assert not fire.missing_essential
    assert not fire.missing_non_essential
    plans = next(r for r in fire.met if r.item.id == "floor_plans")
    assert plans.sheets == ("建施-03",)
    assert [e.sheet.number for e in case.sheets_of("fire")][:2] == ["建施-01", "建施-02"]
    assert case.sheets_of("civil_air_defence") == ()
    assert not [f for f in case.findings if f.code.startswith("SHEET_NUMBER")]


def test_checklist_reports_missing_items_and_numbering(session: Session) -> None:
    desk = make_desk(session, (*without("结施-01", "建施-05"), ("XYZ", "说明")))
    case = intake_desk.load_case(session, desk.clerk, desk.submission_id)
    construction = case.report.track("construction")
    assert [r.item.id for r in construction.missing_essential] == ["architecture_elevations", "structure_description"]
    assert case.options.decision is IntakeDecision.RETURN
    assert any("结构设计总说明" in reason.zh for reason in case.options.reasons)
    codes = [f.code for f in case.findings]
    assert "SHEET_NUMBER_GAP" in codes  # 建施-05 is missing between 04 and 06
    assert "SHEET_NUMBER_UNRECOGNISED" in codes
    assert case.unrouted == ()  # construction review reads every sheet


def test_numbering_is_reported_across_every_file_of_the_submission(
    session: Session, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    desk = make_desk(session, (("结施-01", "结构设计总说明"),))
    store = LocalBlobStore(tmp_path / "objects")
    files = {
        "建施-甲.pdf": (("建施-01", "一层平面图"), ("建施-02", "二层平面图")),
        "建施-乙.pdf": (("建施-02", "二层平面图（修改）"), ("建施-05", "五层平面图")),
    }
    for name, sheets in files.items():
        file_id = upload_original(session_factory, store, desk.submission_id, title_block_pdf(sheets), name)
        assert not process_drawing_file(session_factory, store, file_id).rejected
    session.expire_all()
    case = intake_desk.load_case(session, desk.clerk, desk.submission_id)
    # Neither file alone has a duplicate or a gap; together they have both. The second 建施-02 was recorded
    # under a provisional 重复-… number and still counts as 建施-02, not as an unrecognised number.
    assert any(entry.sheet.number.startswith("重复-建施-02-") for entry in case.sheets)
    numbering = {f.code: f for f in case.findings if f.code.startswith("SHEET_NUMBER")}
    assert set(numbering) == {"SHEET_NUMBER_DUPLICATE", "SHEET_NUMBER_GAP"}
    assert "图号重复：建施-02 出现 2 次" in numbering["SHEET_NUMBER_DUPLICATE"].zh
    assert "建施-02 appears 2 times" in numbering["SHEET_NUMBER_DUPLICATE"].en
    assert "缺少 建施-03、建施-04" in numbering["SHEET_NUMBER_GAP"].zh
    assert "建施-03, 建施-04 missing" in numbering["SHEET_NUMBER_GAP"].en


def test_claimed_numbers_of_provisional_sheets() -> None:
    assert intake_desk.claimed_number("建施-01", {}) == "建施-01"
    assert intake_desk.claimed_number("重复-建施-02-7", {"number": "建施-02"}) == "建施-02"
    assert intake_desk.claimed_number("重复-建施-02-7", None) is None
    assert intake_desk.claimed_number("未识别-7-1", {"number": None}) is None
    report = intake_desk.numbering_report([("建施-01", None), ("重复-建施-01-3", {"number": "建施-1"}), ("XYZ", None)])
    assert [f.code for f in report] == ["SHEET_NUMBER_DUPLICATE", "SHEET_NUMBER_UNRECOGNISED"]


def test_only_clerks_use_the_desk(session: Session) -> None:
    desk = make_desk(session)
    with pytest.raises(Forbidden):
        intake_desk.load_case(session, desk.designer, desk.submission_id)
    with pytest.raises(NotFound):
        intake_desk.load_case(session, desk.reviewer, desk.submission_id)
    with pytest.raises(NotFound):
        intake_desk.load_case(session, desk.clerk, 999_999)


def test_correcting_a_number_normalises_it_and_refuses_a_collision(session: Session) -> None:
    desk = make_desk(session)
    sheet = session.scalar(select(Sheet).where(Sheet.number == "电施-01"))
    assert sheet is not None
    version = session.get_one(Submission, desk.submission_id).version
    with pytest.raises(Conflict):
        intake_desk.correct_sheet(
            session, desk.clerk, desk.submission_id, sheet.id, number="建施-1", title=sheet.title, tracks=None
        )
    session.rollback()
    sheet = session.get_one(Sheet, sheet.id)
    assert sheet.number == "电施-01"

    intake_desk.correct_sheet(
        session,
        desk.clerk,
        desk.submission_id,
        sheet.id,
        number="电施 02",
        title="火灾自动报警系统图",
        tracks=None,
        expected_version=version,
    )
    session.commit()
    session.expire_all()
    sheet = session.get_one(Sheet, sheet.id)
    assert sheet.number == "电施-02"
    assert session.get_one(Submission, desk.submission_id).version > version
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "sheet.corrected")).one()
    assert "电施-01 → 电施-02" in event.summary
    with pytest.raises(Conflict):  # the page shown before the fix is out of date
        intake_desk.accept(session, desk.clerk, desk.submission_id, expected_version=version)


def test_tracks_set_by_hand_are_marked_and_validated(session: Session) -> None:
    desk = make_desk(session, (*COMPLETE, ("未识别-1-3", "屋顶平面图")))
    provisional = session.scalar(select(Sheet).where(Sheet.number == "未识别-1-3"))
    assert provisional is not None
    assert [t.track_code for t in provisional.tracks] == ["construction"]
    # The same ticks as shown: the tracks were left alone, so the new number routes the sheet again.
    intake_desk.correct_sheet(
        session,
        desk.clerk,
        desk.submission_id,
        provisional.id,
        number="建施-08",
        title=provisional.title,
        tracks=["construction"],
    )
    assert sorted((t.track_code, t.overridden) for t in provisional.tracks) == [
        ("construction", False),
        ("fire", False),
    ]
    sheet = session.scalar(select(Sheet).where(Sheet.number == "结施-02"))
    assert sheet is not None
    intake_desk.correct_sheet(
        session,
        desk.clerk,
        desk.submission_id,
        sheet.id,
        number=sheet.number,
        title=sheet.title,
        tracks=["construction", "civil_air_defence"],
    )
    session.commit()
    rows = session.scalars(select(SheetTrack).where(SheetTrack.sheet_id == sheet.id)).all()
    assert sorted((r.track_code, r.overridden) for r in rows) == [
        ("civil_air_defence", True),
        ("construction", True),
    ]
    with pytest.raises(Invalid):
        intake_desk.correct_sheet(
            session, desk.clerk, desk.submission_id, sheet.id, number=sheet.number, title="x", tracks=["lightning"]
        )
    session.rollback()
    intake_desk.correct_sheet(
        session, desk.clerk, desk.submission_id, sheet.id, number=sheet.number, title=sheet.title, tracks=[]
    )
    case = intake_desk.load_case(session, desk.clerk, desk.submission_id)
    assert [e.sheet.number for e in case.unrouted] == ["结施-02"]


def test_accept_opens_the_round_with_a_review_per_routed_track(session: Session) -> None:
    desk = make_desk(session)
    version = session.get_one(Submission, desk.submission_id).version
    round_ = intake_desk.accept(session, desk.clerk, desk.submission_id, expected_version=version)
    session.commit()
    assert round_.number == 1
    assert _state(session, desk.submission_id) is SubmissionState.ACCEPTED
    reviews = session.scalars(select(TrackReview).where(TrackReview.round_id == round_.id)).all()
    # No sheet goes to civil air defence (the project builds no shelter).
    assert sorted(r.track_code for r in reviews) == ["construction", "fire"]
    assert all(r.state is TrackReviewState.PENDING for r in reviews)
    assert session.scalars(select(Round).where(Round.submission_id == desk.submission_id)).all() == [round_]
    fees.defer_fee(session, desk.clerk, desk.submission_id, reason="财政拨款项目，缓缴")  # the review waits for the fee
    intake_desk.start_review(session, desk.clerk, desk.submission_id, expected_version=None)
    session.commit()
    assert _state(session, desk.submission_id) is SubmissionState.IN_REVIEW


def test_accept_on_commitment_records_it(session: Session) -> None:
    desk = make_desk(session, without("电施-01", "暖施-01"))
    case = intake_desk.load_case(session, desk.clerk, desk.submission_id)
    assert case.options.decision is IntakeDecision.ACCEPT_WITH_COMMITMENT
    with pytest.raises(Invalid):
        intake_desk.accept(session, desk.clerk, desk.submission_id)
    with pytest.raises(Invalid):
        intake_desk.accept(session, desk.clerk, desk.submission_id, commitment="  ")
    session.rollback()
    intake_desk.accept(session, desk.clerk, desk.submission_id, commitment="承诺 15 日内补交电气及暖通施工图")
    session.commit()
    assert _state(session, desk.submission_id) is SubmissionState.ACCEPTED
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "submission.accept")).one()
    assert "容缺受理，承诺：承诺 15 日内补交电气及暖通施工图" in event.summary
    record = intake_desk.load_case(session, desk.clerk, desk.submission_id).record
    assert [e.action for e in record] == ["submission.accept"]


def test_return_records_reasons_and_the_designer_may_upload_again(session: Session) -> None:
    desk = make_desk(session, without("结施-01"))
    with pytest.raises(Invalid):
        intake_desk.accept(session, desk.clerk, desk.submission_id)
    with pytest.raises(Invalid):
        intake_desk.return_submission(session, desk.clerk, desk.submission_id, ["", "  "])
    session.rollback()
    case = intake_desk.load_case(session, desk.clerk, desk.submission_id)
    reasons = [m.zh for m in case.options.reasons] + ["图签信息不全"]
    intake_desk.return_submission(session, desk.clerk, desk.submission_id, reasons)
    session.commit()
    assert _state(session, desk.submission_id) is SubmissionState.RETURNED
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "submission.return")).one()
    assert "结构设计总说明" in event.summary
    assert "2. 图签信息不全" in event.summary
    assert session.scalars(select(TrackReview)).all() == []
    told = intake_desk.intake_decisions(session, desk.designer, desk.submission_id)
    assert [e.action for e in told] == ["submission.return"]
    with pytest.raises(NotFound):
        intake_desk.intake_decisions(session, desk.reviewer, desk.submission_id)
    # Back with the designer: uploads are open again and they may submit anew.
    from app.drawings import UPLOAD_STATES

    assert SubmissionState.RETURNED in UPLOAD_STATES
    submissions.submit(session, desk.designer, desk.submission_id)
    session.commit()
    assert _state(session, desk.submission_id) is SubmissionState.SUBMITTED


def test_an_expanded_archive_is_not_counted_as_still_processing(session: Session) -> None:
    desk = make_desk(session)
    session.add(
        DrawingFile(
            submission_id=desk.submission_id,
            sha256="a" * 64,
            size=10,
            original_name="图纸.zip",
            media_type="application/zip",
            object_key="originals/aa/aa/" + "a" * 64,
            status="expanded",
        )
    )
    session.add(
        DrawingFile(
            submission_id=desk.submission_id,
            sha256="b" * 64,
            size=10,
            original_name="图纸.zip/建施-09.pdf",
            media_type="application/pdf",
            object_key="originals/bb/bb/" + "b" * 64,
            status="stored",
        )
    )
    session.commit()
    case = intake_desk.load_case(session, desk.clerk, desk.submission_id)
    assert [f.original_name for f in case.processing] == ["图纸.zip/建施-09.pdf"]


def test_starting_the_review_assigns_each_track_its_reviewers(session):
    from app.intake_desk import assign_track_reviewers
    from storage.models import Organization, OrgKind, RoleGrant, Round, TrackReview, TrackReviewer, User

    desk = make_desk(session)
    agency = Organization(name="分派测试审查中心", kind=OrgKind.REVIEW_AGENCY)
    session.add(agency)
    session.flush()

    def person(name: str, role: Role, track: str, *, active: bool = True) -> int:
        user = User(organization_id=agency.id, username=name, display_name=name, password_hash="x", is_active=active)
        user.roles = [RoleGrant(role=role, track_code=track)]
        session.add(user)
        session.flush()
        return user.id

    first, second = person("a-fire-1", Role.REVIEWER, "fire"), person("a-fire-2", Role.REVIEWER, "fire")
    person("a-fire-lead", Role.TRACK_LEAD, "fire")
    person("a-cad", Role.REVIEWER, "civil_air_defence")
    person("a-fire-gone", Role.REVIEWER, "fire", active=False)
    round_ = Round(submission_id=desk.submission_id, number=9)
    session.add(round_)
    session.flush()
    review = TrackReview(round_id=round_.id, track_code="fire")
    session.add(review)
    session.flush()

    def assigned() -> set[int]:
        return set(session.scalars(select(TrackReviewer.user_id).where(TrackReviewer.track_review_id == review.id)))

    assign_track_reviewers(session, review)
    session.flush()
    assert {first, second} <= assigned()
    assert not assigned() & {
        u.id for u in session.scalars(select(User).where(User.username.in_(["a-fire-lead", "a-cad", "a-fire-gone"])))
    }
    before = assigned()
    assign_track_reviewers(session, review)  # someone is assigned already: nothing changes
    session.flush()
    assert assigned() == before
