"""Who is acting: the :class:`Principal` the web pages, the API and the CLI hand to the policy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from storage.models import Organization, OrgKind, Role, RoleGrant, User

RoleGrantKey = tuple[Role, str | None]
"""A role and, for reviewers, track leads and department signers, the track it is held for."""


@dataclass(frozen=True)
class Principal:
    """An authenticated user as seen by the access policy; immutable, so one may serve several requests."""

    user_id: int
    """Primary key of the user."""
    username: str
    """Login name (ASCII, lower case)."""
    display_name: str
    """Name shown in the interface, usually Chinese (姓名)."""
    organization_id: int
    """The organisation the user belongs to."""
    organization_kind: OrgKind
    """Design institute, review agency, department, bureau or platform operator."""
    organization_name: str
    """Name of that organisation (单位名称)."""
    roles: frozenset[RoleGrantKey]
    """Every (role, track) the user holds; track is None for roles that are not per track."""
    locale: str | None = None
    """Preferred interface language, or None for the platform default."""

    def has_role(self, role: Role, track: str | None = None) -> bool:
        """Whether the user holds ``role``; with ``track``, for that track."""
        if track is None:
            return any(held is role for held, _ in self.roles)
        return (role, track) in self.roles

    def tracks_for(self, role: Role) -> frozenset[str]:
        """The tracks for which the user holds ``role``."""
        return frozenset(track for held, track in self.roles if held is role and track is not None)

    @property
    def is_admin(self) -> bool:
        return self.has_role(Role.ADMIN)


def principal_from_user(user: User) -> Principal:
    """Build the principal of a loaded user (organisation and role grants are read)."""
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        organization_id=user.organization_id,
        organization_kind=user.organization.kind,
        organization_name=user.organization.name,
        roles=frozenset((grant.role, grant.track_code) for grant in user.roles),
        locale=user.locale,
    )


def principal_for_user(session: Session, user_id: int) -> Principal | None:
    """The principal of an active user, or None when the user is unknown, deleted or deactivated.

    The web pages call this for every request whose user is not in the principal cache
    (:mod:`app.identity.cache`), so it is one query: the user, the organisation and the role grants joined.
    """
    rows = session.execute(principal_query().where(User.id == user_id)).all()
    return principal_from_rows(rows)


def principal_query(*extra: InstrumentedAttribute[object]) -> Select[tuple[object, ...]]:
    """The columns of a principal (and ``extra``) for active users, one row per role grant."""
    return (
        select(
            User.id,
            User.username,
            User.display_name,
            User.organization_id,
            Organization.kind,
            Organization.name,
            User.locale,
            RoleGrant.role,
            RoleGrant.track_code,
            *extra,
        )
        .join(Organization, Organization.id == User.organization_id)
        .outerjoin(RoleGrant, RoleGrant.user_id == User.id)
        .where(User.is_active.is_(True), User.deleted_at.is_(None))
    )


def principal_from_rows(rows: Sequence[Sequence[object]]) -> Principal | None:
    """The principal of the rows of :func:`principal_query` for one user, or None without rows."""
    if not rows:
        return None
    user_id, username, display_name, organization_id, kind, organization_name, locale = rows[0][:7]
    return Principal(
        user_id=cast(int, user_id),
        username=cast(str, username),
        display_name=cast(str, display_name),
        organization_id=cast(int, organization_id),
        organization_kind=cast(OrgKind, kind),
        organization_name=cast(str, organization_name),
        roles=frozenset((cast(Role, row[7]), cast("str | None", row[8])) for row in rows if row[7] is not None),
        locale=cast("str | None", locale),
    )
