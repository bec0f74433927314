"""Audit entries of the identity use cases: who changed accounts, organisations and tokens, who logged in."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app import audit as audit_log
from app.identity.principal import Principal

SYSTEM_ACTOR = "system"
"""Actor name of changes made without a logged-in user (command line, demo seeding)."""


def audit(  # noqa: PLR0917 - reads like the audit event it writes
    session: Session, actor: Principal | None, action: str, object_type: str, object_id: int | str, summary: str
) -> None:
    """Append an event to the audit chain in the caller's transaction."""
    audit_log.record(
        session,
        actor_id=actor.user_id if actor else None,
        actor_name=actor.username if actor else SYSTEM_ACTOR,
        action=action,
        object_type=object_type,
        object_id=object_id,
        summary=summary,
    )
