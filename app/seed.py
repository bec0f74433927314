"""Demo data (演示数据): organisations and one account per role, all sharing one printed password.

Structure of the demo city 江城市:

- 江城市建筑设计研究院 (design institute): ``designer``;
- 江城市施工图审查中心 (review agency): ``clerk`` at the intake window, and a reviewer and a
  track lead for each standard track: ``fire.*``, ``airdef.*`` (人防), ``construction.*``;
- one department per track, whose signer seals the result: 江城市消防救援支队 (fire),
  江城市人民防空办公室 (civil air defence) and 江城市住房和城乡建设局勘察设计科 (construction);
- 江城市住房和城乡建设局 (bureau): ``bureau`` verifies results and issues permits.
  An organisation has one kind, so the bureau's own design-review section, which signs for the
  construction track, is a department of its own beside it;
- 联图平台运维中心 (platform operator): ``admin``.

:func:`seed_demo` is idempotent: what exists is left alone (also a changed password), what is
missing is added, and the same list of logins is returned every time.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.identity.accounts import ROLE_NAMES, check_new_user, create_organization, insert_user
from app.identity.passwords import hash_password
from app.tracks import CIVIL_AIR_DEFENCE, CONSTRUCTION, FIRE, ensure_tracks
from storage.models import Organization, OrgKind, Role, User

DEMO_PASSWORD = "liantu-demo-2026"  # noqa: S105 - published on purpose, demo accounts only
"""Shared by every demo account; printed by ``liantu seed-demo``. Never use the demo in production."""


@dataclass(frozen=True)
class DemoLogin:
    """One demo account as printed for the person trying Liantu out."""

    username: str
    """Login name."""
    password: str
    """The shared demo password."""
    display_name: str
    """Name shown in the interface."""
    organization: str
    """Organisation name."""
    role: str
    """What the account does, in Chinese and English."""

    @property
    def description(self) -> str:
        """Role, name and organisation on one line."""
        return f"{self.role} — {self.display_name}，{self.organization}"


@dataclass(frozen=True)
class _DemoOrganization:
    name: str
    kind: OrgKind
    department_code: str | None = None


@dataclass(frozen=True)
class _DemoUser:
    username: str
    display_name: str
    organization: str
    role: Role
    track: str | None = None


DESIGN_INSTITUTE = "江城市建筑设计研究院"
REVIEW_AGENCY = "江城市施工图审查中心"
FIRE_DEPARTMENT = "江城市消防救援支队"
CIVIL_AIR_DEFENCE_OFFICE = "江城市人民防空办公室"
CONSTRUCTION_SECTION = "江城市住房和城乡建设局勘察设计科"
BUREAU = "江城市住房和城乡建设局"
PLATFORM = "联图平台运维中心"

_ORGANIZATIONS = (
    _DemoOrganization(DESIGN_INSTITUTE, OrgKind.DESIGN_INSTITUTE),
    _DemoOrganization(REVIEW_AGENCY, OrgKind.REVIEW_AGENCY),
    _DemoOrganization(FIRE_DEPARTMENT, OrgKind.DEPARTMENT, FIRE),
    _DemoOrganization(CIVIL_AIR_DEFENCE_OFFICE, OrgKind.DEPARTMENT, CIVIL_AIR_DEFENCE),
    _DemoOrganization(CONSTRUCTION_SECTION, OrgKind.DEPARTMENT, CONSTRUCTION),
    _DemoOrganization(BUREAU, OrgKind.BUREAU),
    _DemoOrganization(PLATFORM, OrgKind.PLATFORM),
)

_USERS = (
    _DemoUser("designer", "王建国", DESIGN_INSTITUTE, Role.DESIGNER),
    _DemoUser("clerk", "刘敏", REVIEW_AGENCY, Role.INTAKE_CLERK),
    _DemoUser("fire.reviewer", "赵磊", REVIEW_AGENCY, Role.REVIEWER, FIRE),
    _DemoUser("fire.lead", "钱伟", REVIEW_AGENCY, Role.TRACK_LEAD, FIRE),
    _DemoUser("airdef.reviewer", "孙丽", REVIEW_AGENCY, Role.REVIEWER, CIVIL_AIR_DEFENCE),
    _DemoUser("airdef.lead", "周强", REVIEW_AGENCY, Role.TRACK_LEAD, CIVIL_AIR_DEFENCE),
    _DemoUser("construction.reviewer", "吴静", REVIEW_AGENCY, Role.REVIEWER, CONSTRUCTION),
    _DemoUser("construction.lead", "郑浩", REVIEW_AGENCY, Role.TRACK_LEAD, CONSTRUCTION),
    _DemoUser("fire.signer", "陈刚", FIRE_DEPARTMENT, Role.DEPARTMENT_SIGNER, FIRE),
    _DemoUser("airdef.signer", "杨帆", CIVIL_AIR_DEFENCE_OFFICE, Role.DEPARTMENT_SIGNER, CIVIL_AIR_DEFENCE),
    _DemoUser("construction.signer", "黄涛", CONSTRUCTION_SECTION, Role.DEPARTMENT_SIGNER, CONSTRUCTION),
    _DemoUser("bureau", "林晓", BUREAU, Role.BUREAU_OFFICER),
    _DemoUser("admin", "系统管理员", PLATFORM, Role.ADMIN),
)

_TRACK_NAMES = {
    FIRE: ("消防", "fire"),
    CIVIL_AIR_DEFENCE: ("人防", "civil air defence"),
    CONSTRUCTION: ("施工图", "construction"),
}


def seed_demo(session: Session) -> list[DemoLogin]:
    """Create the standard tracks, the demo organisations and accounts that are missing; list the logins."""
    ensure_tracks(session)
    organizations = {
        organization.name: organization
        for organization in session.scalars(
            select(Organization).where(Organization.name.in_([o.name for o in _ORGANIZATIONS]))
        )
    }
    for demo_org in _ORGANIZATIONS:
        if demo_org.name not in organizations:
            organizations[demo_org.name] = create_organization(
                session, demo_org.name, demo_org.kind, demo_org.department_code
            )
    existing = set(session.scalars(select(User.username).where(User.username.in_([u.username for u in _USERS]))))
    # One hash for all demo accounts: they share a published password anyway, and seeding stays quick.
    password_hash: str | None = None
    for demo_user in _USERS:
        if demo_user.username in existing:
            continue
        organization = organizations[demo_user.organization]
        new = check_new_user(
            session, organization, demo_user.username, demo_user.display_name, [(demo_user.role, demo_user.track)]
        )
        password_hash = password_hash or hash_password(DEMO_PASSWORD)
        insert_user(session, organization, new, password_hash)
    return [_login(demo_user) for demo_user in _USERS]


def _login(demo_user: _DemoUser) -> DemoLogin:
    role_zh, role_en = ROLE_NAMES[demo_user.role]
    if demo_user.track is not None:
        track_zh, track_en = _TRACK_NAMES[demo_user.track]
        role_zh, role_en = f"{track_zh}{role_zh}", f"{role_en} ({track_en})"
    return DemoLogin(
        username=demo_user.username,
        password=DEMO_PASSWORD,
        display_name=demo_user.display_name,
        organization=demo_user.organization,
        role=f"{role_zh} / {role_en}",
    )


def format_demo_logins(logins: list[DemoLogin]) -> str:
    """The logins as a text table for a terminal (CJK characters count double)."""
    header = ("用户名 username", "角色 role", "姓名 name", "单位 organisation")
    rows = [header] + [(login.username, login.role, login.display_name, login.organization) for login in logins]
    widths = [max(_width(row[column]) for row in rows) for column in range(len(header))]
    lines = ["  ".join(_pad(cell, width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    password = logins[0].password if logins else DEMO_PASSWORD
    lines.append("")
    lines.append(f"演示密码 / demo password: {password}")
    return "\n".join(lines)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


__all__ = ["DEMO_PASSWORD", "DemoLogin", "format_demo_logins", "seed_demo"]
