"""Who is acting: the :class:`Principal` the web pages, the API and the CLI hand to the policy."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from storage.models import OrgKind, Role, User

RoleGrantKey = tuple[Role, str | None]
"""A role and, for reviewers, track leads and department signers, the track it is held for."""


@dataclass(frozen=True)
class Principal:
    """An authenticated user as seen by the access policy; built fresh for each request."""

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

    The web pages call this on every request with the user id kept in the session cookie, so a
    deactivation or a role change takes effect at once.
    """
    user = session.scalar(
        select(User)
        .where(User.id == user_id, User.is_active.is_(True), User.deleted_at.is_(None))
        .options(selectinload(User.organization), selectinload(User.roles))
    )
    return None if user is None else principal_from_user(user)
