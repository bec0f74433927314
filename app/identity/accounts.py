"""Organisations and user accounts: creation with the rules of who may hold which role, soft deletion."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid, NotFound
from app.identity.events import audit
from app.identity.passwords import hash_password
from app.identity.principal import Principal, RoleGrantKey
from storage.models import ApiToken, Organization, OrgKind, Role, RoleGrant, Track, User, utcnow

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
"""Longer passwords are refused so that hashing cannot be used to tie up the server."""

USERNAME_PATTERN = re.compile(r"[a-z][a-z0-9._-]{2,79}")
LOCALES = frozenset({"zh-CN", "en"})

TRACK_ROLES = frozenset({Role.REVIEWER, Role.TRACK_LEAD, Role.DEPARTMENT_SIGNER})
"""Roles that are held for one track (专项) and must name it."""

ROLE_ORGANIZATIONS: dict[Role, frozenset[OrgKind]] = {
    Role.DESIGNER: frozenset({OrgKind.DESIGN_INSTITUTE}),
    # 一窗受理: the intake window sits in the review agency or in the bureau's service hall.
    Role.INTAKE_CLERK: frozenset({OrgKind.REVIEW_AGENCY, OrgKind.BUREAU}),
    # Review is done by the agency, or by a department that reviews its own track.
    Role.REVIEWER: frozenset({OrgKind.REVIEW_AGENCY, OrgKind.DEPARTMENT}),
    Role.TRACK_LEAD: frozenset({OrgKind.REVIEW_AGENCY, OrgKind.DEPARTMENT}),
    Role.DEPARTMENT_SIGNER: frozenset({OrgKind.DEPARTMENT}),
    Role.BUREAU_OFFICER: frozenset({OrgKind.BUREAU}),
    Role.ADMIN: frozenset({OrgKind.PLATFORM, OrgKind.BUREAU}),
}
"""Which kinds of organisation a role may be held in."""

ROLE_NAMES: dict[Role, tuple[str, str]] = {
    Role.ADMIN: ("系统管理员", "administrator"),
    Role.DESIGNER: ("设计人员", "designer"),
    Role.INTAKE_CLERK: ("受理窗口", "intake clerk"),
    Role.REVIEWER: ("审查人员", "reviewer"),
    Role.TRACK_LEAD: ("专项负责人", "track lead"),
    Role.DEPARTMENT_SIGNER: ("部门签章人", "department signer"),
    Role.BUREAU_OFFICER: ("住建局经办人", "bureau officer"),
}

ORG_KIND_NAMES: dict[OrgKind, tuple[str, str]] = {
    OrgKind.DESIGN_INSTITUTE: ("设计院", "design institute"),
    OrgKind.REVIEW_AGENCY: ("审查机构", "review agency"),
    OrgKind.DEPARTMENT: ("主管部门", "department"),
    OrgKind.BUREAU: ("住建局", "construction bureau"),
    OrgKind.PLATFORM: ("平台运维", "platform operator"),
}


@dataclass(frozen=True)
class NewUser:
    """The checked values of an account about to be created."""

    username: str
    """Normalised login name."""
    display_name: str
    """Name shown in the interface."""
    roles: tuple[RoleGrantKey, ...]
    """Distinct role grants, in the order given."""
    locale: str | None
    """Preferred language or None."""
    email: str | None
    """Contact address or None."""


def normalize_username(username: str) -> str:
    """Login names compare case-insensitively and ignore surrounding spaces."""
    return username.strip().lower()


def check_password(password: str) -> None:
    """Refuse passwords that are too short or absurdly long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符",
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise Invalid(
            f"密码不能超过 {MAX_PASSWORD_LENGTH} 个字符",
            f"the password must not exceed {MAX_PASSWORD_LENGTH} characters",
        )


def parse_role(text: str) -> RoleGrantKey:
    """Read ``ROLE`` or ``ROLE:TRACK`` (as typed on the command line)."""
    name, _, track = text.strip().partition(":")
    try:
        role = Role(name.strip().lower())
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise Invalid(f"未知角色 {name}（可选：{known}）", f"unknown role {name} (choose from {known})") from None
    return role, (track.strip() or None)


def parse_org_kind(text: str | OrgKind) -> OrgKind:
    try:
        return OrgKind(text)
    except ValueError:
        known = ", ".join(kind.value for kind in OrgKind)
        raise Invalid(
            f"未知单位类型 {text}（可选：{known}）", f"unknown organisation kind {text} (choose from {known})"
        ) from None


def create_organization(
    session: Session,
    name: str,
    kind: OrgKind | str,
    department_code: str | None = None,
    *,
    actor: Principal | None = None,
) -> Organization:
    """Create an organisation. A department names the track it is responsible for; no one else does."""
    name = name.strip()
    kind = parse_org_kind(kind)
    if not name or len(name) > 200:
        raise Invalid("单位名称不能为空且不超过 200 个字符", "the organisation name must have 1 to 200 characters")
    if kind is OrgKind.DEPARTMENT:
        if not department_code:
            raise Invalid("主管部门必须指定负责的专项", "a department must name the track it is responsible for")
        _require_track(session, department_code)
    elif department_code:
        raise Invalid("只有主管部门才能指定专项", "only departments are responsible for a track")
    if session.scalar(select(Organization.id).where(Organization.name == name)) is not None:
        raise Conflict(f"单位“{name}”已存在", f"an organisation named {name} already exists")
    organization = Organization(name=name, kind=kind, department_code=department_code or None)
    session.add(organization)
    session.flush()
    audit(
        session,
        actor,
        "organization.create",
        "organization",
        organization.id,
        f"{name} ({kind.value}{', ' + department_code if department_code else ''})",
    )
    return organization


def check_new_user(
    session: Session,
    organization: Organization,
    username: str,
    display_name: str,
    roles: Iterable[RoleGrantKey],
    *,
    locale: str | None = None,
    email: str | None = None,
) -> NewUser:
    """Check an account before it is created; raise :class:`Invalid` or :class:`Conflict` naming the problem."""
    username = normalize_username(username)
    if not USERNAME_PATTERN.fullmatch(username):
        raise Invalid(
            "用户名须为 3–80 个字符，以字母开头，只含小写字母、数字、点、下划线和连字符",
            "the username must have 3 to 80 characters, start with a letter and contain only"
            " lower-case letters, digits, dots, underscores and hyphens",
        )
    display_name = display_name.strip()
    if not display_name or len(display_name) > 120:
        raise Invalid("姓名不能为空且不超过 120 个字符", "the display name must have 1 to 120 characters")
    if locale is not None and locale not in LOCALES:
        raise Invalid(f"不支持的语言 {locale}", f"unsupported language {locale}")
    if email is not None and (len(email) > 254 or "@" not in email):
        raise Invalid(f"电子邮箱地址无效：{email}", f"invalid e-mail address: {email}")
    grants: list[RoleGrantKey] = []
    for role, track in roles:
        grant = _check_role(session, organization, Role(role), track)
        if grant not in grants:
            grants.append(grant)
    if not grants:
        raise Invalid("用户至少需要一个角色", "a user needs at least one role")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"用户名 {username} 已被使用", f"the username {username} is taken")
    return NewUser(username, display_name, tuple(grants), locale, email or None)


def create_user(  # noqa: PLR0917 - the positional order is the documented interface
    session: Session,
    organization: Organization,
    username: str,
    display_name: str,
    password: str,
    roles: Iterable[RoleGrantKey] = (),
    *,
    locale: str | None = None,
    email: str | None = None,
    actor: Principal | None = None,
) -> User:
    """Create an account in ``organization`` with its roles, after checking every rule."""
    new = check_new_user(session, organization, username, display_name, roles, locale=locale, email=email)
    check_password(password)
    return insert_user(session, organization, new, hash_password(password), actor=actor)


def insert_user(
    session: Session, organization: Organization, new: NewUser, password_hash: str, *, actor: Principal | None = None
) -> User:
    """Store a checked account with an already computed password hash."""
    user = User(
        organization=organization,
        username=new.username,
        display_name=new.display_name,
        password_hash=password_hash,
        locale=new.locale,
        email=new.email,
        is_active=True,
        roles=[RoleGrant(role=role, track_code=track) for role, track in new.roles],
    )
    session.add(user)
    session.flush()
    described = ", ".join(_describe(grant) for grant in new.roles)
    audit(session, actor, "user.create", "user", user.id, f"{new.username} @ {organization.name} [{described}]")
    return user


def set_password(session: Session, user: User, password: str, *, actor: Principal | None = None) -> None:
    """Replace a user's password."""
    check_password(password)
    user.password_hash = hash_password(password)
    session.flush()
    audit(session, actor, "user.password", "user", user.id, user.username)


def delete_user(session: Session, user: User, *, actor: Principal | None = None) -> None:
    """Soft-delete a user: the row stays for the audit trail, logins and tokens stop working."""
    if user.deleted_at is not None:
        return
    now = utcnow()
    user.deleted_at = now
    user.is_active = False
    session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
    )
    session.flush()
    audit(session, actor, "user.delete", "user", user.id, user.username)


def set_user_active(session: Session, user: User, active: bool, *, actor: Principal | None = None) -> None:
    """Suspend or reinstate a user that is not deleted."""
    if user.deleted_at is not None:
        raise Conflict("该用户已删除", "this user has been deleted")
    user.is_active = active
    session.flush()
    audit(session, actor, "user.activate" if active else "user.deactivate", "user", user.id, user.username)


def grant_role(
    session: Session, user: User, role: Role, track: str | None = None, *, actor: Principal | None = None
) -> None:
    """Give a user one more role, under the same rules as at creation; granting it twice changes nothing."""
    grant = _check_role(session, user.organization, Role(role), track or None)
    if grant in {(held.role, held.track_code) for held in user.roles}:
        return
    user.roles.append(RoleGrant(role=grant[0], track_code=grant[1]))
    session.flush()
    audit(session, actor, "user.grant", "user", user.id, f"{user.username} +{_describe(grant)}")


def revoke_role(
    session: Session, user: User, role: Role, track: str | None = None, *, actor: Principal | None = None
) -> None:
    """Take a role from a user; the last role cannot be taken (delete the user instead)."""
    held = [grant for grant in user.roles if (grant.role, grant.track_code) == (Role(role), track or None)]
    if not held:
        raise NotFound("该用户没有此角色", "the user does not hold this role")
    if len(user.roles) == 1:
        raise Conflict(
            "不能取消用户的唯一角色，请改为删除用户", "cannot take a user's only role; delete the user instead"
        )
    user.roles.remove(held[0])
    session.flush()
    audit(session, actor, "user.revoke", "user", user.id, f"{user.username} -{_describe((Role(role), track or None))}")


def find_organization(session: Session, name: str) -> Organization:
    organization = session.scalar(select(Organization).where(Organization.name == name.strip()))
    if organization is None:
        raise NotFound(f"没有名为“{name}”的单位", f"no organisation named {name}")
    return organization


def find_user(session: Session, username: str) -> User:
    """The user with this login name, deleted or not."""
    user = session.scalar(select(User).where(User.username == normalize_username(username)))
    if user is None:
        raise NotFound(f"没有用户 {username}", f"no user {username}")
    return user


def _describe(grant: RoleGrantKey) -> str:
    role, track = grant
    return role.value + (f":{track}" if track else "")


def _require_track(session: Session, code: str) -> None:
    if session.get(Track, code) is None:
        raise Invalid(f"没有专项 {code}", f"no track {code}")


def _check_role(session: Session, organization: Organization, role: Role, track: str | None) -> RoleGrantKey:
    role_zh, role_en = ROLE_NAMES[role]
    kind_zh, kind_en = ORG_KIND_NAMES[organization.kind]
    if role in TRACK_ROLES:
        if not track:
            raise Invalid(f"角色“{role_zh}”必须指定专项", f"the role {role_en} must name a track")
        _require_track(session, track)
    elif track:
        raise Invalid(f"角色“{role_zh}”不按专项授予", f"the role {role_en} is not held for a track")
    if organization.kind not in ROLE_ORGANIZATIONS[role]:
        raise Invalid(
            f"{kind_zh}“{organization.name}”的用户不能担任{role_zh}",
            f"a user of the {kind_en} {organization.name} cannot be a {role_en}",
        )
    if organization.kind is OrgKind.DEPARTMENT and track is not None and track != organization.department_code:
        raise Invalid(
            f"“{organization.name}”负责的专项是 {organization.department_code}，不是 {track}",
            f"{organization.name} is responsible for {organization.department_code}, not {track}",
        )
    return role, track
