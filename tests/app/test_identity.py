"""Accounts, password logins with the shared rate limit, API tokens and principals, on both databases."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit
from app.errors import Conflict, Invalid, NotAuthenticated, NotFound, RateLimited
from app.identity import (
    Principal,
    authenticate,
    create_api_token,
    create_organization,
    create_user,
    delete_user,
    grant_role,
    hash_password,
    principal_for_token,
    principal_for_user,
    revoke_api_token,
    revoke_role,
    set_user_active,
    verify_password,
)
from app.identity.accounts import check_new_user, insert_user
from app.settings import Settings, load_settings
from app.tracks import ensure_tracks
from storage.db import make_engine, make_session_factory, transaction
from storage.migrate import upgrade
from storage.models import ApiToken, AuditEvent, LoginAttempt, Organization, OrgKind, Role, User

PASSWORD = "correct horse battery"
LIMITED = load_settings({"LIANTU_LOGIN_ATTEMPTS": "3", "LIANTU_LOGIN_WINDOW_SECONDS": "600"})
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


@lru_cache(maxsize=1)
def _password_hash() -> str:
    # Hashed once for the whole module: each Argon2 hash takes a tenth of a second.
    return hash_password(PASSWORD)


@pytest.fixture
def agency(session: Session) -> Organization:
    ensure_tracks(session)
    return create_organization(session, "江城市施工图审查中心", OrgKind.REVIEW_AGENCY)


def _user(session: Session, organization: Organization, username: str, *roles: tuple[Role, str | None]) -> User:
    new = check_new_user(session, organization, username, username.title(), roles or [(Role.REVIEWER, "fire")])
    return insert_user(session, organization, new, _password_hash())


def _login(
    session: Session,
    username: str,
    password: str = PASSWORD,
    *,
    client: str = "10.0.0.1",
    settings: Settings = LIMITED,
    at: dt.datetime = T0,
) -> Principal:
    return authenticate(session, username, password, client=client, settings=settings, now=at)


def _audited(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# Passwords ---------------------------------------------------------------------------------------


def test_password_hash_verifies_only_its_password() -> None:
    hashed = _password_hash()
    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed
    assert verify_password(hashed, PASSWORD)
    assert not verify_password(hashed, PASSWORD + "x")
    assert not verify_password("not a hash", PASSWORD)


def test_principal_helpers() -> None:
    principal = Principal(
        user_id=1,
        username="fire.lead",
        display_name="钱伟",
        organization_id=1,
        organization_kind=OrgKind.REVIEW_AGENCY,
        organization_name="审查中心",
        roles=frozenset({(Role.TRACK_LEAD, "fire"), (Role.REVIEWER, "fire"), (Role.REVIEWER, "construction")}),
    )
    assert principal.has_role(Role.REVIEWER)
    assert principal.has_role(Role.REVIEWER, "construction")
    assert not principal.has_role(Role.TRACK_LEAD, "construction")
    assert not principal.has_role(Role.DESIGNER)
    assert principal.tracks_for(Role.REVIEWER) == {"fire", "construction"}
    assert principal.tracks_for(Role.DEPARTMENT_SIGNER) == frozenset()
    assert not principal.is_admin


# Login ----------------------------------------------------------------------------------------------


def test_login_returns_the_principal_and_is_recorded(session: Session, agency: Organization) -> None:
    user = _user(session, agency, "fire.reviewer")
    principal = _login(session, "  Fire.Reviewer ")
    assert principal == principal_for_user(session, user.id)
    assert principal.username == "fire.reviewer"
    assert principal.organization_kind is OrgKind.REVIEW_AGENCY
    assert principal.organization_name == "江城市施工图审查中心"
    assert principal.roles == {(Role.REVIEWER, "fire")}
    attempt = session.scalars(select(LoginAttempt)).one()
    assert (attempt.username, attempt.client, attempt.succeeded) == ("fire.reviewer", "10.0.0.1", True)
    [event] = _audited(session, "user.login")
    assert (event.actor_id, event.object_id) == (user.id, str(user.id))


def test_wrong_password_and_unknown_user_fail_alike_and_the_failure_survives_rollback(
    session: Session, agency: Organization
) -> None:
    _user(session, agency, "fire.reviewer")
    with pytest.raises(NotAuthenticated) as wrong:
        _login(session, "fire.reviewer", "wrong password")
    session.rollback()  # the caller's transaction is abandoned; the failed attempt must still count
    with pytest.raises(NotAuthenticated) as unknown:
        _login(session, "nobody.here", PASSWORD)
    session.rollback()
    assert (wrong.value.zh, wrong.value.en) == (unknown.value.zh, unknown.value.en)
    assert "wrong username or password" in wrong.value.en
    assert "用户名或密码错误" in wrong.value.zh
    failed = session.scalars(select(LoginAttempt.username).where(LoginAttempt.succeeded.is_(False))).all()
    assert sorted(failed) == ["fire.reviewer", "nobody.here"]
    assert _audited(session, "user.login") == []


def test_rate_limit_by_username_across_clients_until_the_window_passes(session: Session, agency: Organization) -> None:
    _user(session, agency, "fire.reviewer")
    for n in range(3):
        with pytest.raises(NotAuthenticated):
            _login(session, "fire.reviewer", "guess", client=f"10.0.1.{n}", at=T0 + dt.timedelta(seconds=n))
    with pytest.raises(RateLimited) as limited:
        _login(session, "fire.reviewer", client="10.9.9.9", at=T0 + dt.timedelta(seconds=10))
    assert "too many failed logins" in limited.value.en
    assert "登录失败次数过多" in limited.value.zh
    # A refused attempt is not recorded, so it does not push the window further.
    assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 3
    later = T0 + dt.timedelta(seconds=LIMITED.login_window_seconds + 3)
    assert _login(session, "fire.reviewer", client="10.9.9.9", at=later).username == "fire.reviewer"


def test_rate_limit_by_client_across_usernames(session: Session, agency: Organization) -> None:
    _user(session, agency, "fire.reviewer")
    for n, name in enumerate(["alice", "bob", "carol"]):
        with pytest.raises(NotAuthenticated):
            _login(session, name, "guess", client="203.0.113.7", at=T0 + dt.timedelta(seconds=n))
    with pytest.raises(RateLimited):
        _login(session, "fire.reviewer", client="203.0.113.7", at=T0 + dt.timedelta(seconds=5))
    # The account itself is fine from elsewhere.
    assert _login(session, "fire.reviewer", client="198.51.100.1", at=T0 + dt.timedelta(seconds=6))


def test_success_clears_only_the_own_failures(session: Session, agency: Organization) -> None:
    _user(session, agency, "alice")
    at = iter(T0 + dt.timedelta(seconds=n) for n in range(100))
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            _login(session, "alice", "guess", client="10.0.0.5", at=next(at))
    _login(session, "alice", client="10.0.0.5", at=next(at))
    # Alice's two failures are cleared: two more are still below the limit of three.
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            _login(session, "alice", "guess", client="10.0.0.6", at=next(at))
    assert _login(session, "alice", client="10.0.0.6", at=next(at)).username == "alice"

    # Someone guessing other accounts from one address cannot reset that address's count with a
    # successful login of their own.
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            _login(session, "bob", "guess", client="10.0.0.7", at=next(at))
    _login(session, "alice", client="10.0.0.7", at=next(at))
    with pytest.raises(NotAuthenticated):
        _login(session, "carol", "guess", client="10.0.0.7", at=next(at))
    with pytest.raises(RateLimited):
        _login(session, "alice", client="10.0.0.7", at=next(at))


def test_inactive_and_deleted_users_cannot_log_in(session: Session, agency: Organization) -> None:
    suspended = _user(session, agency, "suspended")
    deleted = _user(session, agency, "deleted")
    set_user_active(session, suspended, False)
    delete_user(session, deleted)
    settings = load_settings({})
    for user in (suspended, deleted):
        with pytest.raises(NotAuthenticated):
            _login(session, user.username, settings=settings)
        assert principal_for_user(session, user.id) is None
    assert deleted.deleted_at is not None
    assert not deleted.is_active
    with pytest.raises(Conflict):
        set_user_active(session, deleted, True)
    set_user_active(session, suspended, True)
    assert _login(session, "suspended", settings=settings).user_id == suspended.id


def test_outdated_hash_is_replaced_at_login(session: Session, agency: Organization) -> None:
    user = _user(session, agency, "old.hash")
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    user.password_hash = weak
    session.flush()
    _login(session, "old.hash")
    assert user.password_hash != weak
    assert "m=65536,t=3,p=4" in user.password_hash
    assert verify_password(user.password_hash, PASSWORD)


# Accounts ---------------------------------------------------------------------------------------


def test_create_user_hashes_the_password_and_audits(session: Session, agency: Organization) -> None:
    user = create_user(session, agency, "Clerk.One", "刘敏", "ten chars!", [(Role.INTAKE_CLERK, None)], locale="en")
    assert user.username == "clerk.one"
    assert user.password_hash != "ten chars!"
    assert verify_password(user.password_hash, "ten chars!")
    principal = principal_for_user(session, user.id)
    assert principal is not None
    assert principal.locale == "en"
    assert principal.roles == {(Role.INTAKE_CLERK, None)}
    [created] = _audited(session, "user.create")
    assert "clerk.one" in created.summary
    assert "intake_clerk" in created.summary
    assert [event.object_id for event in _audited(session, "organization.create")] == [str(agency.id)]
    assert audit.verify(session).ok


@pytest.mark.parametrize(
    ("kind", "department", "username", "password", "roles", "fragment"),
    [
        (OrgKind.REVIEW_AGENCY, None, "short.pw", "nine char", [(Role.REVIEWER, "fire")], "at least 10"),
        (OrgKind.REVIEW_AGENCY, None, "9lives", "long enough", [(Role.REVIEWER, "fire")], "username"),
        (OrgKind.REVIEW_AGENCY, None, "张三", "long enough", [(Role.REVIEWER, "fire")], "username"),
        (OrgKind.REVIEW_AGENCY, None, "ab", "long enough", [(Role.REVIEWER, "fire")], "username"),
        (OrgKind.REVIEW_AGENCY, None, "no.track", "long enough", [(Role.REVIEWER, None)], "must name a track"),
        (OrgKind.REVIEW_AGENCY, None, "bad.track", "long enough", [(Role.TRACK_LEAD, "moon")], "no track moon"),
        (OrgKind.REVIEW_AGENCY, None, "clerk.x", "long enough", [(Role.INTAKE_CLERK, "fire")], "not held for"),
        (OrgKind.REVIEW_AGENCY, None, "designer", "long enough", [(Role.DESIGNER, None)], "cannot be a designer"),
        (OrgKind.REVIEW_AGENCY, None, "no.roles", "long enough", [], "at least one role"),
        (OrgKind.DESIGN_INSTITUTE, None, "reviewer", "long enough", [(Role.REVIEWER, "fire")], "cannot be a"),
        (OrgKind.DESIGN_INSTITUTE, None, "officer", "long enough", [(Role.BUREAU_OFFICER, None)], "cannot be a"),
        (OrgKind.DEPARTMENT, "fire", "signer", "long enough", [(Role.DEPARTMENT_SIGNER, "construction")], "not"),
        (OrgKind.BUREAU, None, "signer", "long enough", [(Role.DEPARTMENT_SIGNER, "fire")], "cannot be a"),
    ],
)
def test_create_user_refuses_bad_accounts(
    session: Session,
    *,
    kind: OrgKind,
    department: str | None,
    username: str,
    password: str,
    roles: list[tuple[Role, str | None]],
    fragment: str,
) -> None:
    ensure_tracks(session)
    organization = create_organization(session, "某单位", kind, department)
    with pytest.raises(Invalid) as refused:
        create_user(session, organization, username, "某人", password, roles)
    assert fragment in refused.value.en
    assert refused.value.zh
    assert session.scalar(select(func.count()).select_from(User)) == 0


def test_organization_rules(session: Session) -> None:
    ensure_tracks(session)
    with pytest.raises(Invalid, match="must name the track"):
        create_organization(session, "消防救援支队", OrgKind.DEPARTMENT)
    with pytest.raises(Invalid, match="only departments"):
        create_organization(session, "设计院", OrgKind.DESIGN_INSTITUTE, "fire")
    with pytest.raises(Invalid, match="no track"):
        create_organization(session, "气象局", OrgKind.DEPARTMENT, "weather")
    with pytest.raises(Invalid, match="unknown organisation kind"):
        create_organization(session, "某单位", "ministry")
    department = create_organization(session, "消防救援支队", "department", "fire")
    assert (department.kind, department.department_code) == (OrgKind.DEPARTMENT, "fire")
    with pytest.raises(Conflict):
        create_organization(session, " 消防救援支队 ", OrgKind.BUREAU)


def test_roles_can_be_granted_and_revoked_under_the_same_rules(session: Session, agency: Organization) -> None:
    user = _user(session, agency, "fire.reviewer")
    grant_role(session, user, Role.TRACK_LEAD, "fire")
    grant_role(session, user, Role.TRACK_LEAD, "fire")
    with pytest.raises(Invalid, match="cannot be a designer"):
        grant_role(session, user, Role.DESIGNER)
    principal = principal_for_user(session, user.id)
    assert principal is not None
    assert principal.roles == {(Role.REVIEWER, "fire"), (Role.TRACK_LEAD, "fire")}
    revoke_role(session, user, Role.REVIEWER, "fire")
    with pytest.raises(NotFound):
        revoke_role(session, user, Role.REVIEWER, "fire")
    with pytest.raises(Conflict, match="only role"):
        revoke_role(session, user, Role.TRACK_LEAD, "fire")
    assert principal_for_user(session, user.id) == replace(principal, roles=frozenset({(Role.TRACK_LEAD, "fire")}))
    assert [event.summary for event in _audited(session, "user.grant")] == ["fire.reviewer +track_lead:fire"]
    assert [event.summary for event in _audited(session, "user.revoke")] == ["fire.reviewer -reviewer:fire"]


def test_duplicate_username_is_a_conflict(session: Session, agency: Organization) -> None:
    _user(session, agency, "fire.reviewer")
    with pytest.raises(Conflict, match="taken"):
        create_user(session, agency, "FIRE.reviewer", "另一人", "long enough", [(Role.REVIEWER, "fire")])


# API tokens ----------------------------------------------------------------------------------------


def test_token_round_trip_keeps_only_the_hash(session: Session, agency: Organization) -> None:
    user = _user(session, agency, "script.user")
    token = create_api_token(session, user.id, "nightly export")
    assert token.startswith("lt_")
    row = session.scalars(select(ApiToken)).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token.startswith(f"lt_{row.prefix}_")
    secret = token.split("_", 2)[2]
    stored = [str(value) for value in session.execute(select(ApiToken.__table__)).one()]
    assert not any(secret in value or token in value for value in stored)
    assert row.last_used_at is None

    principal = principal_for_token(session, token)
    assert principal == principal_for_user(session, user.id)
    assert row.last_used_at is not None
    assert principal_for_token(session, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert principal_for_token(session, "lt_00000000_" + "x" * 43) is None
    assert principal_for_token(session, "Bearer nonsense") is None
    assert [event.object_id for event in _audited(session, "token.create")] == [str(row.id)]
    assert secret not in _audited(session, "token.create")[0].summary


def test_revoked_token_is_refused(session: Session, agency: Organization) -> None:
    user = _user(session, agency, "script.user")
    token = create_api_token(session, user.id, "ci")
    other = create_api_token(session, user.id, "backup")
    row = session.scalars(select(ApiToken).where(ApiToken.name == "ci")).one()
    revoke_api_token(session, row.id)
    assert principal_for_token(session, token) is None
    assert principal_for_token(session, other) is not None
    assert len(_audited(session, "token.revoke")) == 1
    with pytest.raises(NotFound):
        revoke_api_token(session, 999_999)
    # Someone revoking "their own" token by id cannot reach another user's.
    stranger = _user(session, agency, "stranger")
    other_row = session.scalars(select(ApiToken).where(ApiToken.name == "backup")).one()
    with pytest.raises(NotFound):
        revoke_api_token(session, other_row.id, owner_id=stranger.id)
    assert principal_for_token(session, other) is not None
    revoke_api_token(session, other_row.id, owner_id=user.id)
    assert principal_for_token(session, other) is None


def test_tokens_of_deleted_or_inactive_users_are_refused(session: Session, agency: Organization) -> None:
    leaving = _user(session, agency, "leaving")
    paused = _user(session, agency, "paused")
    leaving_token = create_api_token(session, leaving.id, "ci")
    paused_token = create_api_token(session, paused.id, "ci")
    delete_user(session, leaving)
    set_user_active(session, paused, False)
    assert principal_for_token(session, leaving_token) is None
    assert principal_for_token(session, paused_token) is None
    # Deletion also revokes, so reinstating an account never revives its old tokens.
    revoked = session.scalar(select(ApiToken.revoked_at).where(ApiToken.user_id == leaving.id))
    assert revoked is not None
    set_user_active(session, paused, True)
    assert principal_for_token(session, paused_token) is not None
    with pytest.raises(NotFound):
        create_api_token(session, leaving.id, "again")
    with pytest.raises(Invalid):
        create_api_token(session, paused.id, " ")
    assert [event.object_id for event in _audited(session, "user.delete")] == [str(leaving.id)]


def test_unknown_users_cost_one_verification_like_known_ones(
    session: Session, agency: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.identity import login

    _user(session, agency, "known")
    checked: list[str] = []

    def counting(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return verify_password(password_hash, password)

    monkeypatch.setattr(login, "verify_password", counting)
    for username in ("known", "unknown"):
        with pytest.raises(NotAuthenticated):
            _login(session, username, "wrong password", settings=load_settings({}))
    assert len(checked) == 2
    assert checked[0] == _password_hash()
    assert checked[1].startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_the_limit_is_shared_by_separate_processes(tmp_path: Path) -> None:
    """Two engines on one database stand for two web processes; each login runs as the web pages run it."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    first, second = make_engine(url), make_engine(url)
    try:
        upgrade(first)
        with transaction(make_session_factory(first)) as setup:
            ensure_tracks(setup)
            _user(setup, create_organization(setup, "审查中心", OrgKind.REVIEW_AGENCY), "fire.reviewer")
        for attempt in range(3):
            engine = (first, second)[attempt % 2]
            with make_session_factory(engine)() as db, pytest.raises(NotAuthenticated):
                _login(db, "fire.reviewer", "guess", client=f"10.1.0.{attempt}", at=T0)
        with transaction(make_session_factory(second)) as db, pytest.raises(RateLimited):
            _login(db, "fire.reviewer", client="10.2.0.1", at=T0 + dt.timedelta(seconds=1))
    finally:
        first.dispose()
        second.dispose()
