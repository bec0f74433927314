"""Password login with a rate limit shared by every web process (through the ``login_attempts`` table)."""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import and_, delete, exists, func, select
from sqlalchemy.orm import Session, aliased, selectinload

from app.errors import NotAuthenticated, RateLimited
from app.identity.accounts import MAX_PASSWORD_LENGTH, normalize_username
from app.identity.events import audit
from app.identity.passwords import dummy_hash, hash_password, needs_rehash, verify_password
from app.identity.principal import Principal, principal_from_user
from app.settings import Settings
from storage.models import LoginAttempt, User, utcnow

_USERNAME_COLUMN = 80
_CLIENT_COLUMN = 64


def authenticate(
    session: Session, username: str, password: str, *, client: str, settings: Settings, now: dt.datetime | None = None
) -> Principal:
    """Check a username and password and return the user's principal.

    Raises :class:`RateLimited` when the account or the client address has had
    ``settings.login_attempts`` failed logins within ``settings.login_window_seconds`` (a later
    successful login of an account clears that account's failures, nobody else's), and
    :class:`NotAuthenticated`, with one message for every cause, otherwise.

    A failed attempt is committed before the error is raised so that it counts even when the
    caller's transaction is rolled back; a successful one is left to the caller's commit.
    """
    now = now or utcnow()
    name = normalize_username(username)[:_USERNAME_COLUMN]
    client = client[:_CLIENT_COLUMN]
    _check_rate(session, name, client, settings, now)

    user = session.scalar(
        select(User).where(User.username == name).options(selectinload(User.organization), selectinload(User.roles))
    )
    usable = user is not None and user.is_active and user.deleted_at is None
    # Unknown users are checked against a dummy hash so that both cases cost one Argon2 verification.
    acceptable = len(password) <= MAX_PASSWORD_LENGTH
    matched = verify_password(user.password_hash if user else dummy_hash(), password if acceptable else "")
    if user is None or not usable or not matched or not acceptable:
        session.add(LoginAttempt(username=name, client=client, at=now, succeeded=False))
        session.commit()
        raise NotAuthenticated("用户名或密码错误", "wrong username or password")

    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.add(LoginAttempt(username=name, client=client, at=now, succeeded=True))
    session.flush()
    principal = principal_from_user(user)
    audit(session, principal, "user.login", "user", user.id, f"{name} from {client}")
    return principal


def failures(session: Session, *, username: str | None = None, client: str | None = None, since: dt.datetime) -> int:
    """Failed logins since ``since`` for a username or a client address, not counting those an account's
    later successful login has cleared."""
    later = aliased(LoginAttempt)
    cleared = exists().where(
        later.username == LoginAttempt.username, later.succeeded.is_(True), later.at > LoginAttempt.at
    )
    conditions = [LoginAttempt.succeeded.is_(False), LoginAttempt.at >= since, ~cleared]
    if username is not None:
        conditions.append(LoginAttempt.username == username)
    if client is not None:
        conditions.append(LoginAttempt.client == client)
    return session.scalar(select(func.count()).select_from(LoginAttempt).where(and_(*conditions))) or 0


def prune_login_attempts(session: Session, *, before: dt.datetime) -> int:
    """Delete attempts older than ``before`` (they no longer count towards any limit); returns how many."""
    result = session.execute(delete(LoginAttempt).where(LoginAttempt.at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def _check_rate(session: Session, username: str, client: str, settings: Settings, now: dt.datetime) -> None:
    since = now - dt.timedelta(seconds=settings.login_window_seconds)
    if (
        failures(session, username=username, since=since) >= settings.login_attempts
        or failures(session, client=client, since=since) >= settings.login_attempts
    ):
        minutes = max(1, math.ceil(settings.login_window_seconds / 60))
        raise RateLimited(
            f"登录失败次数过多，请 {minutes} 分钟后再试",
            f"too many failed logins; try again in {minutes} minutes",
        )
