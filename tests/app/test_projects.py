"""Projects and draft submissions: every field checked, codes unique, only designers create, others see nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Forbidden, NotFound
from app.identity.accounts import check_new_user, create_organization, insert_user
from app.identity.principal import Principal, principal_from_user
from app.projects import (
    ProjectInvalid,
    create_project,
    list_projects,
    open_submission,
    parse_project,
    project_view,
    submission_files,
    update_project,
)
from app.tracks import ensure_tracks
from storage.models import AuditEvent, Organization, OrgKind, Role, SubmissionState

PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ"

FORM = {
    "name": "江城市第一人民医院门诊楼",
    "code": "JC-2026-0002",
    "construction_unit": "江城市卫生健康委员会",
    "address": "江城市人民路 1 号",
    "building_use": "医疗",
    "floors_above": "12",
    "floors_below": "2",
    "height_m": "49.8",
    "gross_floor_area_m2": "38,500",
    "fire_resistance_rating": "一级",
    "civil_air_defence_area_m2": "",
}


def account(
    session: Session, organization: Organization, username: str, role: Role, track: str | None = None
) -> Principal:
    new = check_new_user(session, organization, username, username, [(role, track)])
    return principal_from_user(insert_user(session, organization, new, PASSWORD_HASH))


@pytest.fixture
def designer(session: Session) -> Principal:
    ensure_tracks(session)
    return account(
        session, create_organization(session, "江城建筑设计院", OrgKind.DESIGN_INSTITUTE), "d.li", Role.DESIGNER
    )


@pytest.fixture
def rival(session: Session) -> Principal:
    institute = create_organization(session, "另一家设计院", OrgKind.DESIGN_INSTITUTE)
    return account(session, institute, "d.zhao", Role.DESIGNER)


def test_a_valid_form_becomes_a_project_of_the_designers_organisation(session: Session, designer: Principal) -> None:
    details = parse_project(FORM)
    assert details.gross_floor_area_m2 == 38500.0
    assert details.civil_air_defence_area_m2 == 0.0
    project = create_project(session, designer, details)
    assert project.organization_id == designer.organization_id
    assert project.created_by_id == designer.user_id
    assert project.fire_resistance_rating == "一级"
    assert project.construction_unit == "江城市卫生健康委员会"
    assert [p.id for p in list_projects(session, designer)] == [project.id]
    assert session.scalars(select(AuditEvent).where(AuditEvent.action == "project.created")).one()


@pytest.mark.parametrize(
    ("changes", "field", "zh"),
    [
        ({"name": " "}, "name", "请填写项目名称"),
        ({"code": "JC 2026"}, "code", "项目编号只能包含"),
        ({"floors_above": "0"}, "floors_above", "地上层数应在 1 到 200 之间"),
        ({"floors_below": "1.5"}, "floors_below", "地下层数应为整数"),
        ({"height_m": "inf"}, "height_m", "建筑高度应大于 0"),
        ({"gross_floor_area_m2": "abc"}, "gross_floor_area_m2", "总建筑面积应为数字"),
        ({"fire_resistance_rating": "五级"}, "fire_resistance_rating", "请选择耐火等级"),
        ({"civil_air_defence_area_m2": "50000"}, "civil_air_defence_area_m2", "人防面积不能大于总建筑面积"),
        ({"civil_air_defence_area_m2": "-1"}, "civil_air_defence_area_m2", "人防面积应不小于 0"),
        ({"address": "路" * 301}, "address", "不能超过 300 个字符"),
        ({"construction_unit": " \t "}, "construction_unit", "请填写建设单位"),
        ({"construction_unit": "建" * 201}, "construction_unit", "建设单位不能超过 200 个字符"),
    ],
)
def test_each_wrong_field_is_named_in_both_languages(changes: dict[str, str], field: str, zh: str) -> None:
    with pytest.raises(ProjectInvalid) as caught:
        parse_project({**FORM, **changes})
    assert set(caught.value.fields) == {field}
    message_zh, message_en = caught.value.fields[field]
    assert zh in message_zh
    assert message_en
    assert message_en.isascii()


def test_the_construction_unit_is_trimmed_and_may_be_200_characters() -> None:
    assert (
        parse_project({**FORM, "construction_unit": "  江城市卫生健康委员会\n"}).construction_unit
        == "江城市卫生健康委员会"
    )
    assert parse_project({**FORM, "construction_unit": " " + "建" * 200 + " "}).construction_unit == "建" * 200


def test_a_missing_construction_unit_is_named_in_english_too() -> None:
    with pytest.raises(ProjectInvalid) as caught:
        parse_project({**FORM, "construction_unit": ""})
    assert caught.value.fields["construction_unit"] == ("请填写建设单位", "the construction unit is required")


def test_designers_edit_a_project_created_before_construction_units_were_asked(
    session: Session, designer: Principal, rival: Principal
) -> None:
    project = create_project(session, designer, parse_project(FORM))
    project.construction_unit = ""  # as the 0005 migration leaves existing projects
    session.flush()
    assert project_view(session, designer, project.id).project.construction_unit == ""

    with pytest.raises(NotFound):  # another institute does not even see the project
        update_project(session, rival, project.id, parse_project(FORM))
    with pytest.raises(ProjectInvalid) as caught:
        update_project(session, designer, project.id, parse_project({**FORM, "code": "JC-2026-9999"}))
    assert set(caught.value.fields) == {"code"}

    updated = update_project(session, designer, project.id, parse_project({**FORM, "height_m": "50.1"}))
    assert updated.construction_unit == "江城市卫生健康委员会"
    assert updated.height_m == 50.1
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "project.updated")).one()
    assert "construction_unit" in event.summary
    assert "height_m" in event.summary
    assert "name" not in event.summary.split("：", 1)[1].split(", ")


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ProjectInvalid) as caught:
        parse_project({})
    assert set(caught.value.fields) >= {"name", "code", "floors_above", "height_m", "fire_resistance_rating"}


def test_project_codes_are_unique(session: Session, designer: Principal, rival: Principal) -> None:
    create_project(session, designer, parse_project(FORM))
    with pytest.raises(ProjectInvalid) as caught:
        create_project(session, rival, parse_project({**FORM, "name": "别的项目"}))
    assert "已被使用" in caught.value.fields["code"][0]


def test_only_designers_create_and_other_organisations_see_nothing(
    session: Session, designer: Principal, rival: Principal
) -> None:
    agency = create_organization(session, "审图中心", OrgKind.REVIEW_AGENCY)
    clerk = account(session, agency, "c.wu", Role.INTAKE_CLERK)
    with pytest.raises(Forbidden):
        create_project(session, clerk, parse_project(FORM))
    project = create_project(session, designer, parse_project(FORM))
    assert list_projects(session, rival) == []
    with pytest.raises(NotFound):
        project_view(session, rival, project.id)
    with pytest.raises(NotFound):
        open_submission(session, rival, project.id)
    with pytest.raises(NotFound):
        open_submission(session, designer, project.id + 999)


def test_a_submission_starts_as_an_empty_draft(session: Session, designer: Principal) -> None:
    project = create_project(session, designer, parse_project(FORM))
    first = open_submission(session, designer, project.id)
    second = open_submission(session, designer, project.id)
    assert first.state is SubmissionState.DRAFT
    assert first.created_by_id == designer.user_id
    view = project_view(session, designer, project.id)
    assert [s.id for s in view.submissions] == [second.id, first.id]
    assert submission_files(session, designer, first.id) == []
