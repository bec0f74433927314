"""Demo seeding and the standard tracks: complete, consistent with the account rules, idempotent."""

from __future__ import annotations

import unicodedata

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit
from app.errors import NotFound
from app.identity import authenticate, find_user, principal_for_user
from app.seed import DEMO_PASSWORD, format_demo_logins, seed_demo
from app.settings import load_settings
from app.tracks import STANDARD_TRACKS, all_tracks, enabled_tracks, ensure_tracks, set_track_enabled
from storage.models import AuditEvent, Organization, OrgKind, Role, RoleGrant, Track, User

EXPECTED_ROLES = {
    "designer": (Role.DESIGNER, None, OrgKind.DESIGN_INSTITUTE),
    "clerk": (Role.INTAKE_CLERK, None, OrgKind.REVIEW_AGENCY),
    "fire.reviewer": (Role.REVIEWER, "fire", OrgKind.REVIEW_AGENCY),
    "fire.lead": (Role.TRACK_LEAD, "fire", OrgKind.REVIEW_AGENCY),
    "airdef.reviewer": (Role.REVIEWER, "civil_air_defence", OrgKind.REVIEW_AGENCY),
    "airdef.lead": (Role.TRACK_LEAD, "civil_air_defence", OrgKind.REVIEW_AGENCY),
    "construction.reviewer": (Role.REVIEWER, "construction", OrgKind.REVIEW_AGENCY),
    "construction.lead": (Role.TRACK_LEAD, "construction", OrgKind.REVIEW_AGENCY),
    "fire.signer": (Role.DEPARTMENT_SIGNER, "fire", OrgKind.DEPARTMENT),
    "airdef.signer": (Role.DEPARTMENT_SIGNER, "civil_air_defence", OrgKind.DEPARTMENT),
    "construction.signer": (Role.DEPARTMENT_SIGNER, "construction", OrgKind.DEPARTMENT),
    "bureau": (Role.BUREAU_OFFICER, None, OrgKind.BUREAU),
    "admin": (Role.ADMIN, None, OrgKind.PLATFORM),
}


def _snapshot(session: Session) -> dict[str, object]:
    def count(model: type) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    return {
        "organizations": count(Organization),
        "users": count(User),
        "grants": count(RoleGrant),
        "tracks": count(Track),
        "audit": count(AuditEvent),
        "hashes": sorted(session.scalars(select(User.password_hash))),
    }


def test_seed_creates_one_account_per_role_and_a_department_per_track(session: Session) -> None:
    logins = seed_demo(session)
    assert [login.username for login in logins] == list(EXPECTED_ROLES)
    assert {login.password for login in logins} == {DEMO_PASSWORD}
    assert len(DEMO_PASSWORD) >= 10
    for username, (role, track, kind) in EXPECTED_ROLES.items():
        principal = principal_for_user(session, find_user(session, username).id)
        assert principal is not None
        assert principal.roles == {(role, track)}, username
        assert principal.organization_kind is kind, username
    departments = session.scalars(select(Organization).where(Organization.kind == OrgKind.DEPARTMENT)).all()
    assert {d.department_code for d in departments} == {"fire", "civil_air_defence", "construction"}
    names = {o.name for o in session.scalars(select(Organization))}
    assert {"江城市建筑设计研究院", "江城市施工图审查中心", "江城市住房和城乡建设局", "江城市消防救援支队"} <= names
    assert audit.verify(session).ok

    settings = load_settings({})
    for username in ("designer", "fire.signer"):
        assert authenticate(session, username, DEMO_PASSWORD, client="127.0.0.1", settings=settings)


def test_second_seed_changes_nothing_and_returns_the_same_logins(session: Session) -> None:
    first = seed_demo(session)
    before = _snapshot(session)
    assert seed_demo(session) == first
    assert _snapshot(session) == before


def test_seed_completes_a_partial_demo(session: Session) -> None:
    seed_demo(session)
    session.delete(find_user(session, "bureau"))
    session.flush()
    seed_demo(session)
    assert find_user(session, "bureau").organization.name == "江城市住房和城乡建设局"
    assert session.scalar(select(func.count()).select_from(User)) == len(EXPECTED_ROLES)


def test_demo_logins_table_without_logins_still_names_the_password() -> None:
    assert format_demo_logins([]).splitlines()[-1] == f"演示密码 / demo password: {DEMO_PASSWORD}"


def test_demo_logins_table_aligns_chinese(session: Session) -> None:
    logins = seed_demo(session)
    lines = format_demo_logins(logins).splitlines()
    rows = lines[2 : 2 + len(logins)]
    assert [row.split()[0] for row in rows] == [login.username for login in logins]
    # The name column starts at the same terminal column on every row (CJK characters are two wide).
    starts = {_width(row[: row.rindex(login.display_name)]) for row, login in zip(rows, logins, strict=True)}
    assert len(starts) == 1
    assert all(login.organization in row for row, login in zip(rows, logins, strict=True))
    assert lines[-1].endswith(DEMO_PASSWORD)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def test_standard_tracks_are_ensured_once_and_keep_the_administrators_choice(session: Session) -> None:
    added = ensure_tracks(session)
    assert [t.code for t in added] == [t.code for t in STANDARD_TRACKS]
    assert [t.code for t in enabled_tracks(session)] == ["fire", "civil_air_defence", "construction"]
    set_track_enabled(session, "lightning", True)
    set_track_enabled(session, "fire", False)
    set_track_enabled(session, "fire", False)  # no change, no audit event
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "track")).all()
    assert sorted(actions) == ["track.disable", "track.enable"]
    assert ensure_tracks(session) == []
    assert [t.code for t in enabled_tracks(session)] == ["civil_air_defence", "construction", "lightning"]
    assert [t.name_zh for t in all_tracks(session)] == [
        "消防审查",
        "人防审查",
        "施工图审查",
        "防雷审查",
        "市政公用",
        "规划审查",
    ]


def test_unknown_track_cannot_be_switched(session: Session) -> None:
    ensure_tracks(session)
    with pytest.raises(NotFound):
        set_track_enabled(session, "weather", True)
