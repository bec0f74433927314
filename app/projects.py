"""Use cases of the designer's projects (建设项目) and their submissions (报审).

A project is created by a designer for their own organisation, with its construction unit (建设单位,
named on the opinion letters, the result certificate and the permit) and the figures every review
track reads from it: storeys, height, gross floor area (总建筑面积), fire resistance rating (耐火等级)
and the civil air defence area (人防面积). Every field is checked here, and all problems of one form
are reported together, each next to its field. A submission starts as a draft (草稿) that the
designer fills with drawings and then hands in with :func:`app.submissions.submit`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit, policy
from app.errors import Invalid, NotFound
from app.identity.principal import Principal
from app.policy import Action
from app.tasks.jobs import VERIFY_DRAWING_FILE
from storage.models import DrawingFile, Project, Submission, TaskRun, User

FIRE_RESISTANCE_RATINGS = ("一级", "二级", "三级", "四级")
"""耐火等级 as GB 50016 names them."""

PROJECT_FIELDS = (
    "name",
    "code",
    "construction_unit",
    "address",
    "building_use",
    "floors_above",
    "floors_below",
    "height_m",
    "gross_floor_area_m2",
    "fire_resistance_rating",
    "civil_air_defence_area_m2",
)
"""The form fields of a project, in the order the form shows them."""

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-./]*")
_MAX_TEXT = {"name": 200, "code": 64, "construction_unit": 200, "address": 300, "building_use": 80}
MAX_FLOORS = 200
MAX_HEIGHT_M = 1000.0
MAX_AREA_M2 = 10_000_000.0
LIST_LIMIT = 200


class ProjectInvalid(Invalid):
    """A project form with one or more wrong fields; ``fields`` maps each to its (Chinese, English) message."""

    def __init__(self, fields: Mapping[str, tuple[str, str]]) -> None:
        super().__init__(
            "项目信息有误，请按提示修改", "some project details are wrong; see the notes beside the fields"
        )
        self.fields = dict(fields)


@dataclass(frozen=True)
class ProjectDetails:
    """What a designer states about a project (all checked)."""

    name: str
    """项目名称."""
    code: str
    """项目编号 (e.g. the planning permit number), unique on the platform."""
    construction_unit: str
    """建设单位: the owner who builds; required of every project created or edited since it was asked."""
    address: str
    """建设地点."""
    building_use: str
    """建筑用途 (住宅, 办公, 学校…)."""
    floors_above: int
    """地上层数, at least 1."""
    floors_below: int
    """地下层数, 0 or more."""
    height_m: float
    """建筑高度 in metres."""
    gross_floor_area_m2: float
    """总建筑面积 in square metres."""
    fire_resistance_rating: str
    """耐火等级: one of :data:`FIRE_RESISTANCE_RATINGS`."""
    civil_air_defence_area_m2: float
    """人防面积 in square metres (0 when the project has no civil air defence works)."""


@dataclass(frozen=True)
class FileRow:
    """One drawing file of a submission as its page lists it."""

    drawing_file: DrawingFile
    """The stored file."""
    uploaded_by: str
    """Display name of the uploader (or "—")."""
    kind: str
    """Sniffed kind (pdf, dxf_ascii, …)."""
    verification: str
    """``verified``, ``corrupt``, ``running``, ``failed`` or ``queued``."""
    progress: float
    """Progress of the verification run, 0..1."""


@dataclass(frozen=True)
class ProjectView:
    """A project with its submissions, newest first."""

    project: Project
    submissions: list[Submission] = field(default_factory=list)


def parse_project(values: Mapping[str, Any]) -> ProjectDetails:
    """Check a project form; raise :class:`ProjectInvalid` naming every wrong field."""
    problems: dict[str, tuple[str, str]] = {}
    text = {key: str(values.get(key) or "").strip() for key in PROJECT_FIELDS}

    for key, (zh, en) in {
        "name": ("项目名称", "project name"),
        "code": ("项目编号", "project code"),
        "construction_unit": ("建设单位", "construction unit"),
        "address": ("建设地点", "address"),
        "building_use": ("建筑用途", "building use"),
    }.items():
        if not text[key]:
            problems[key] = (f"请填写{zh}", f"the {en} is required")
        elif len(text[key]) > _MAX_TEXT[key]:
            problems[key] = (
                f"{zh}不能超过 {_MAX_TEXT[key]} 个字符",
                f"the {en} is longer than {_MAX_TEXT[key]} characters",
            )
    if "code" not in problems and not _CODE.fullmatch(text["code"]):
        problems["code"] = (
            "项目编号只能包含字母、数字和 - _ . /",
            "the project code may contain only letters, digits and - _ . /",
        )

    floors_above = _integer(text, "floors_above", ("地上层数", "floors above ground"), problems, low=1, high=MAX_FLOORS)
    floors_below = _integer(text, "floors_below", ("地下层数", "floors below ground"), problems, low=0, high=MAX_FLOORS)
    height = _number(text, "height_m", MAX_HEIGHT_M, ("建筑高度", "building height"), problems, positive=True)
    area = _number(
        text, "gross_floor_area_m2", MAX_AREA_M2, ("总建筑面积", "gross floor area"), problems, positive=True
    )
    defence = _number(
        text, "civil_air_defence_area_m2", MAX_AREA_M2, ("人防面积", "civil air defence area"), problems, positive=False
    )
    if text["fire_resistance_rating"] not in FIRE_RESISTANCE_RATINGS:
        problems["fire_resistance_rating"] = (
            "请选择耐火等级（一级至四级）",
            "choose a fire resistance rating (class 1 to 4)",
        )
    if area is not None and defence is not None and defence > area:
        problems["civil_air_defence_area_m2"] = (
            "人防面积不能大于总建筑面积",
            "the civil air defence area cannot exceed the gross floor area",
        )
    if problems:
        raise ProjectInvalid(problems)
    assert floors_above is not None
    assert floors_below is not None
    assert height is not None
    assert area is not None
    assert defence is not None
    return ProjectDetails(
        name=text["name"],
        code=text["code"],
        construction_unit=text["construction_unit"],
        address=text["address"],
        building_use=text["building_use"],
        floors_above=floors_above,
        floors_below=floors_below,
        height_m=height,
        gross_floor_area_m2=area,
        fire_resistance_rating=text["fire_resistance_rating"],
        civil_air_defence_area_m2=defence,
    )


def create_project(session: Session, principal: Principal, details: ProjectDetails) -> Project:
    """新建项目: the designer's organisation owns the new project."""
    policy.require(principal, Action.CREATE_PROJECT)
    taken = session.scalar(select(func.count()).select_from(Project).where(Project.code == details.code))
    if taken:
        raise ProjectInvalid({"code": ("该项目编号已被使用", "this project code is already in use")})
    project = Project(
        organization_id=principal.organization_id,
        code=details.code,
        name=details.name,
        construction_unit=details.construction_unit,
        address=details.address,
        building_use=details.building_use,
        floors_above=details.floors_above,
        floors_below=details.floors_below,
        height_m=details.height_m,
        gross_floor_area_m2=details.gross_floor_area_m2,
        fire_resistance_rating=details.fire_resistance_rating,
        civil_air_defence_area_m2=details.civil_air_defence_area_m2,
        created_by_id=principal.user_id,
    )
    session.add(project)
    session.flush()
    audit.record(
        session,
        actor_id=principal.user_id,
        actor_name=principal.username,
        action="project.created",
        object_type="project",
        object_id=project.id,
        summary=f"{details.code} {details.name}",
    )
    return project


def editable_project(session: Session, principal: Principal, project_id: int) -> Project:
    """A project ``principal`` may edit, else :class:`NotFound` or :class:`~app.errors.Forbidden`."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound("没有该项目", "no such project")
    policy.require(principal, Action.EDIT_PROJECT, project=project)
    return project


def update_project(session: Session, principal: Principal, project_id: int, details: ProjectDetails) -> Project:
    """编辑项目: the designers of the project correct its details; the project code stays as it was created."""
    project = editable_project(session, principal, project_id)
    if details.code != project.code:
        raise ProjectInvalid({"code": ("项目编号创建后不能修改", "the project code cannot be changed once created")})
    changed = [key for key in PROJECT_FIELDS if getattr(project, key) != getattr(details, key)]
    for key in changed:
        setattr(project, key, getattr(details, key))
    session.flush()
    if changed:
        audit.record(
            session,
            actor_id=principal.user_id,
            actor_name=principal.username,
            action="project.updated",
            object_type="project",
            object_id=project.id,
            summary=f"{project.code} 修改：{', '.join(changed)}",
        )
    return project


def open_submission(session: Session, principal: Principal, project_id: int) -> Submission:
    """新建报审: a draft submission of the project, to be filled with drawings and then submitted."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound("没有该项目", "no such project")
    policy.require(principal, Action.EDIT_PROJECT, project=project)
    submission = Submission(project_id=project.id, created_by_id=principal.user_id)
    session.add(submission)
    session.flush()
    audit.record(
        session,
        actor_id=principal.user_id,
        actor_name=principal.username,
        action="submission.opened",
        object_type="submission",
        object_id=submission.id,
        summary=f"项目 {project.code} 新建报审（草稿）",
    )
    return submission


def list_projects(session: Session, principal: Principal) -> list[Project]:
    """The projects ``principal`` may see, newest first."""
    return list(
        session.scalars(
            select(Project)
            .where(policy.visible_projects(principal))
            .order_by(Project.created_at.desc(), Project.id.desc())
            .limit(LIST_LIMIT)
        )
    )


def project_view(session: Session, principal: Principal, project_id: int) -> ProjectView:
    """One project and the submissions of it that ``principal`` may see."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound("没有该项目", "no such project")
    policy.require(principal, Action.VIEW_PROJECT, project=project)
    submissions = session.scalars(
        select(Submission)
        .where(Submission.project_id == project.id, policy.visible_submissions(principal))
        .order_by(Submission.id.desc())
    )
    return ProjectView(project=project, submissions=list(submissions))


def load_submission(session: Session, principal: Principal, submission_id: int) -> Submission:
    """A submission ``principal`` may see, else :class:`NotFound`."""
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    policy.require(principal, Action.VIEW_SUBMISSION, submission=submission)
    return submission


def submission_files(session: Session, principal: Principal, submission_id: int) -> list[FileRow]:
    """The drawing files of a submission, oldest first, with their verification state."""
    load_submission(session, principal, submission_id)
    rows = session.execute(
        select(DrawingFile, User.display_name)
        .outerjoin(User, User.id == DrawingFile.uploaded_by_id)
        .where(DrawingFile.submission_id == submission_id)
        .order_by(DrawingFile.uploaded_at, DrawingFile.id)
    ).all()
    runs = _latest_runs(session, [drawing.id for drawing, _ in rows])
    result = []
    for drawing, uploader in rows:
        run = runs.get(str(drawing.id))
        result.append(
            FileRow(
                drawing_file=drawing,
                uploaded_by=uploader or "—",
                kind=str((drawing.findings or {}).get("kind", "")),
                verification=_verification(drawing, run),
                progress=1.0 if drawing.verified_at else (run.progress if run else 0.0),
            )
        )
    return result


def _latest_runs(session: Session, drawing_ids: list[int]) -> dict[str, TaskRun]:
    if not drawing_ids:
        return {}
    runs = session.scalars(
        select(TaskRun)
        .where(
            TaskRun.name == VERIFY_DRAWING_FILE,
            TaskRun.object_type == "drawing_file",
            TaskRun.object_id.in_([str(i) for i in drawing_ids]),
        )
        .order_by(TaskRun.created_at)
    )
    return {run.object_id: run for run in runs}  # later runs replace earlier ones


def _verification(drawing: DrawingFile, run: TaskRun | None) -> str:
    if drawing.status == "corrupt":
        return "corrupt"
    if drawing.verified_at is not None:
        return "verified"
    if run is None:
        return "queued"
    return {"running": "running", "retrying": "running", "failed": "failed"}.get(run.state.value, "queued")


def _integer(
    text: Mapping[str, str],
    key: str,
    names: tuple[str, str],
    problems: dict[str, tuple[str, str]],
    *,
    low: int,
    high: int,
) -> int | None:
    raw = text[key]
    if not raw:
        problems[key] = (f"请填写{names[0]}", f"the number of {names[1]} is required")
        return None
    try:
        value = int(raw)
    except ValueError:
        problems[key] = (f"{names[0]}应为整数", f"{names[1]} must be a whole number")
        return None
    if not low <= value <= high:
        problems[key] = (f"{names[0]}应在 {low} 到 {high} 之间", f"{names[1]} must be between {low} and {high}")
        return None
    return value


def _number(
    text: Mapping[str, str],
    key: str,
    high: float,
    names: tuple[str, str],
    problems: dict[str, tuple[str, str]],
    *,
    positive: bool,
) -> float | None:
    raw = text[key].replace(",", "").replace("，", "")
    if not raw:
        if not positive:
            return 0.0
        problems[key] = (f"请填写{names[0]}", f"the {names[1]} is required")
        return None
    try:
        value = float(raw)
    except ValueError:
        problems[key] = (f"{names[0]}应为数字", f"the {names[1]} must be a number")
        return None
    if not math.isfinite(value) or value < 0 or (positive and value == 0) or value > high:
        low = "大于 0 " if positive else "不小于 0 "
        low_en = "greater than 0" if positive else "at least 0"
        problems[key] = (
            f"{names[0]}应{low}且不超过 {high:,.0f}",
            f"the {names[1]} must be {low_en} and at most {high:,.0f}",
        )
        return None
    return value
