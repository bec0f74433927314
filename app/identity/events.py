"""Audit hook of the identity use cases."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.identity.principal import Principal


def audit(  # noqa: PLR0917 - same order as the audit trail's record()
    session: Session, actor: Principal | None, action: str, object_type: str, object_id: int | str, summary: str
) -> None:
    """Record a state change of accounts, organisations, tokens or logins in the audit trail."""
