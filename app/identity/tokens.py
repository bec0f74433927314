"""API tokens for scripts: shown once, kept only as a SHA-256."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.errors import Invalid, NotFound
from app.identity.events import audit
from app.identity.principal import Principal, principal_from_user
from storage.models import ApiToken, User, utcnow

TOKEN_PATTERN = re.compile(r"lt_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")
"""``lt_<prefix>_<secret>``: the prefix identifies the token in lists, the secret is 32 random bytes."""

LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
"""``last_used_at`` is written at most this often per token, not on every request."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(session: Session, user_id: int, name: str, *, actor: Principal | None = None) -> str:
    """Create a token for an active user and return it; it cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 120:
        raise Invalid("令牌名称不能为空且不超过 120 个字符", "the token name must have 1 to 120 characters")
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None or not user.is_active:
        raise NotFound("没有该用户或用户已停用", "no such active user")
    prefix = secrets.token_hex(4)
    token = f"lt_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken(user_id=user.id, name=name, token_hash=token_digest(token), prefix=prefix)
    session.add(row)
    session.flush()
    audit(session, actor, "token.create", "api_token", row.id, f"{user.username}: {name} (lt_{prefix})")
    return token


def principal_for_token(session: Session, token: str, *, now: dt.datetime | None = None) -> Principal | None:
    """The principal of a valid token, or None (malformed, unknown, revoked, or its user deleted or inactive)."""
    match = TOKEN_PATTERN.fullmatch(token.strip())
    if match is None:
        return None
    digest = token_digest(match.group(0))
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None:
        return None
    user = session.scalar(
        select(User)
        .where(User.id == row.user_id, User.is_active.is_(True), User.deleted_at.is_(None))
        .options(selectinload(User.organization), selectinload(User.roles))
    )
    if user is None:
        return None
    now = now or utcnow()
    if row.last_used_at is None or _aware(row.last_used_at) <= now - LAST_USED_RESOLUTION:
        row.last_used_at = now
        session.flush()
    return principal_from_user(user)


def revoke_api_token(
    session: Session, token_id: int, *, owner_id: int | None = None, actor: Principal | None = None
) -> ApiToken:
    """Revoke a token by id; revoking twice keeps the first time.

    With ``owner_id`` (a user revoking their own token), a token of anyone else is reported as not found.
    """
    row = session.get(ApiToken, token_id)
    if row is None or (owner_id is not None and row.user_id != owner_id):
        raise NotFound("没有该令牌", "no such token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
        audit(session, actor, "token.revoke", "api_token", row.id, f"{row.name} (lt_{row.prefix})")
    return row


def tokens_of(session: Session, user_id: int) -> list[ApiToken]:
    """A user's tokens, newest first (hashes only; the secrets are gone)."""
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())))


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
