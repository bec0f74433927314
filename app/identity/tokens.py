"""API tokens for scripts: shown once, kept only as a SHA-256."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from typing import cast

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.errors import Invalid, NotFound
from app.identity.events import audit
from app.identity.principal import Principal, principal_from_rows, principal_query
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
    """The principal of a valid token, or None (malformed, unknown, revoked, or its user deleted or inactive).

    One query reads the token, its user, the organisation and the role grants.
    """
    digest = token_digest_of(token)
    if digest is None:
        return None
    rows = session.execute(
        principal_query(ApiToken.id, ApiToken.token_hash, ApiToken.last_used_at)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
    ).all()
    if not rows or not hmac.compare_digest(cast(str, rows[0][-2]), digest):
        return None
    token_id, last_used = cast(int, rows[0][-3]), cast("dt.datetime | None", rows[0][-1])
    now = now or utcnow()
    if last_used is None or _aware(last_used) <= now - LAST_USED_RESOLUTION:
        session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
    return principal_from_rows([row[:9] for row in rows])


def token_digest_of(token: str) -> str | None:
    """The SHA-256 under which a well-formed token is kept, or None for a malformed one."""
    match = TOKEN_PATTERN.fullmatch(token.strip())
    return None if match is None else token_digest(match.group(0))


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
