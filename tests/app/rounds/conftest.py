"""A submission in its first review round, built through intake from real DXF sheets, and its people."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import ezdxf
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.drawings import add_original
from app.identity.accounts import check_new_user, create_organization, insert_user
from app.identity.principal import Principal, principal_from_user
from app.intake.pipeline import process_drawing_file
from app.tracks import CIVIL_AIR_DEFENCE, FIRE, ensure_tracks
from storage.blobstore import BlobStore, LocalBlobStore
from storage.db import transaction
from storage.models import (
    Organization,
    OrgKind,
    Project,
    Role,
    Round,
    Sheet,
    SheetRevision,
    Submission,
    SubmissionState,
    TrackReview,
    TrackReviewState,
)
from tests.app.intake.makers import PASSWORD_HASH

CHANGE_MODEL = (15000.0, 9000.0)
"""Centre of the circle the revised 建施-03 adds, in model units (mm)."""
CHANGE_RADIUS = 800.0


def sheet_dxf(number: str, title: str = "平面图", *, added_circle: bool = False) -> bytes:
    """One A3 layout named ``number`` over a floor outline (1:100), a title block with number and title."""
    doc = ezdxf.new("R2010", setup=True)
    doc.header["$INSUNITS"] = 4
    msp = doc.modelspace()
    msp.add_lwpolyline([(0, 0), (20000, 0), (20000, 12000), (0, 12000)], close=True)
    msp.add_line((2000, 2000), (6000, 2000))
    msp.add_text("客厅 疏散楼梯 防火门", height=500).set_placement((3000, 6000))
    if added_circle:
        msp.add_circle(CHANGE_MODEL, CHANGE_RADIUS)
    layout = doc.layouts.new(number)
    layout.page_setup(size=(420, 297), margins=(0, 0, 0, 0), units="mm")
    layout.add_viewport(center=(200, 160), size=(360, 240), view_center_point=(10000, 6000), view_height=24000)
    layout.add_lwpolyline([(5, 5), (415, 5), (415, 292), (5, 292)], close=True)
    for row, line in enumerate(("设计单位：联图建筑设计院", f"图名：{title}", f"图号：{number}", "比例：1:100")):
        layout.add_text(line, height=3.5).set_placement((320, 40 - row * 8))
    text = io.StringIO()
    doc.write(text)
    return text.getvalue().encode()


def model_to_sheet(x: float, y: float) -> tuple[float, float]:
    """Where a model point of :func:`sheet_dxf` lands on the sheet, in points from the top left."""
    paper_x = 200 + (x - 10000) * 0.01
    paper_y = 160 + (y - 6000) * 0.01
    k = 72 / 25.4
    return paper_x * k, (297 - paper_y) * k


@dataclass(frozen=True)
class Case:
    submission_id: int
    round_id: int
    designer: Principal
    fire_reviewer: Principal
    fire_lead: Principal
    airdef_lead: Principal
    clerk: Principal
    revisions: dict[str, int]
    """Round-1 revision per sheet number."""


def _person(db: Session, org: Organization, username: str, name: str, role: Role, track: str | None) -> Principal:
    new = check_new_user(db, org, username, name, [(role, track)])
    return principal_from_user(insert_user(db, org, new, PASSWORD_HASH))


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "objects")


def upload(
    sessions: sessionmaker[Session], store: LocalBlobStore, who: Principal, sid: int, data: bytes, name: str
) -> int:
    """Upload a file as the designer does and run it through intake's split step; the drawing file id."""
    with transaction(sessions) as db:
        added = add_original(db, store, who, sid, io.BytesIO(data), file_name=name, max_bytes=10**8)
        file_id = added.drawing_file.id
    outcome = process_drawing_file(sessions, store, file_id)
    assert not outcome.rejected, outcome.message
    return file_id


@pytest.fixture
def case(session_factory: sessionmaker[Session], store: LocalBlobStore) -> Case:
    return build_case(session_factory, store)


def build_case(session_factory: sessionmaker[Session], store: BlobStore) -> Case:
    """Two DXF sheets (建施-03, 建施-04) through intake, round 1 in review for fire and civil air defence."""
    with transaction(session_factory) as db:
        ensure_tracks(db)
        institute = create_organization(db, "联图测试设计院", OrgKind.DESIGN_INSTITUTE)
        agency = create_organization(db, "江城施工图审查中心", OrgKind.REVIEW_AGENCY)
        designer = _person(db, institute, "d.zhao", "赵设计", Role.DESIGNER, None)
        fire_reviewer = _person(db, agency, "fire.r", "赵磊", Role.REVIEWER, FIRE)
        fire_lead = _person(db, agency, "fire.l", "钱伟", Role.TRACK_LEAD, FIRE)
        airdef_lead = _person(db, agency, "airdef.l", "周强", Role.TRACK_LEAD, CIVIL_AIR_DEFENCE)
        clerk = _person(db, agency, "clerk", "刘敏", Role.INTAKE_CLERK, None)
        project = Project(
            organization_id=institute.id,
            code="JC-2026-0401",
            name="滨江小学教学楼",
            construction_unit="江城市滨江区教育局",
            address="江城市滨江路 1 号",
            gross_floor_area_m2=5000.0,
        )
        db.add(project)
        db.flush()
        submission = Submission(project_id=project.id, review_number="SC-2026-0401")
        db.add(submission)
        db.flush()
        sid = submission.id
    for number in ("建施-03", "建施-04"):
        upload(session_factory, store, designer, sid, sheet_dxf(number), f"{number}.dxf")
    with transaction(session_factory) as db:
        round_ = db.scalars(select(Round).where(Round.submission_id == sid)).one()
        db.add_all(
            TrackReview(round_id=round_.id, track_code=code, state=TrackReviewState.IN_REVIEW)
            for code in (FIRE, CIVIL_AIR_DEFENCE)
        )
        db.get_one(Submission, sid).state = SubmissionState.IN_REVIEW
        query = select(Sheet.number, SheetRevision.id).join(SheetRevision, SheetRevision.sheet_id == Sheet.id)
        revisions = dict(db.execute(query).tuples().all())
        round_id = round_.id
    return Case(sid, round_id, designer, fire_reviewer, fire_lead, airdef_lead, clerk, revisions)
