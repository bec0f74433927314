"""The principal cache: lifetime on an injected clock, and every identity change forgotten at once in-process."""

from __future__ import annotations

from functools import lru_cache

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.identity import (
    create_api_token,
    create_organization,
    delete_user,
    grant_role,
    hash_password,
    principal_for_token,
    principal_for_user,
    revoke_api_token,
    revoke_role,
    set_password,
    set_user_active,
)
from app.identity.accounts import check_new_user, insert_user
from app.identity.cache import MAX_ENTRIES, PrincipalCache
from app.identity.principal import Principal
from app.identity.tokens import token_digest_of
from app.tracks import ensure_tracks
from storage.models import ApiToken, Organization, OrgKind, Role, User

TTL = 5.0


@lru_cache(maxsize=1)
def _password_hash() -> str:
    return hash_password("correct horse battery")


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> PrincipalCache:
    return PrincipalCache(TTL, clock=clock)


@pytest.fixture
def agency(session: Session) -> Organization:
    ensure_tracks(session)
    return create_organization(session, "江城市施工图审查中心", OrgKind.REVIEW_AGENCY)


def _user(session: Session, organization: Organization, username: str) -> User:
    new = check_new_user(session, organization, username, username.title(), [(Role.REVIEWER, "fire")])
    return insert_user(session, organization, new, _password_hash())


def _cached(session: Session, cache: PrincipalCache, user: User) -> Principal:
    found = principal_for_user(session, user.id)
    assert found is not None
    cache.put_user(found, cache.generation)
    cache.remember(user.id, ("tiles", 1), "dzi-key", cache.generation)
    assert cache.user(user.id) == found
    return found


def test_entries_live_for_the_lifetime_of_the_clock(cache: PrincipalCache, clock: Clock) -> None:
    principal = Principal(1, "a", "A", 1, OrgKind.REVIEW_AGENCY, "机构", frozenset({(Role.REVIEWER, "fire")}))
    cache.put_user(principal, cache.generation)
    cache.put_token("digest", principal, cache.generation)
    cache.remember(1, ("tiles", 7), "key", cache.generation)
    clock.now += TTL - 0.01
    assert cache.user(1) is principal
    assert cache.token("digest") is principal
    assert cache.recall(1, ("tiles", 7)) == "key"
    assert cache.recall(2, ("tiles", 7)) is None  # facts are per user
    clock.now += 0.02
    assert cache.user(1) is None
    assert cache.token("digest") is None
    assert cache.recall(1, ("tiles", 7)) is None


def test_a_lifetime_of_zero_keeps_nothing(clock: Clock) -> None:
    off = PrincipalCache(0, clock=clock)
    principal = Principal(1, "a", "A", 1, OrgKind.REVIEW_AGENCY, "机构", frozenset())
    off.put_user(principal, off.generation)
    off.remember(1, "fact", "value", off.generation)
    assert not off.enabled
    assert off.user(1) is None
    assert off.recall(1, "fact") is None


def test_a_read_that_raced_with_a_change_is_not_kept(cache: PrincipalCache) -> None:
    principal = Principal(1, "a", "A", 1, OrgKind.REVIEW_AGENCY, "机构", frozenset())
    before = cache.generation
    cache.forget_users([99])  # a change to anybody while the read was under way
    cache.put_user(principal, before)
    cache.remember(1, "fact", "value", before)
    assert cache.user(1) is None
    assert cache.recall(1, "fact") is None
    cache.put_user(principal, cache.generation)
    assert cache.user(1) is principal


def test_the_cache_stays_bounded(cache: PrincipalCache, clock: Clock) -> None:
    for user_id in range(MAX_ENTRIES):
        cache.remember(user_id, "fact", user_id, cache.generation)
    assert len(cache) == MAX_ENTRIES
    clock.now += TTL + 1
    cache.remember(-5, "fact", "new", cache.generation)  # full: the expired entries make room
    assert len(cache) == 1
    for user_id in range(MAX_ENTRIES + 10):
        cache.remember(user_id, "fact", user_id, cache.generation)
    assert len(cache) <= MAX_ENTRIES  # full of live entries: started afresh


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda session, user: set_user_active(session, user, False), id="deactivated"),
        pytest.param(delete_user, id="deleted"),
        pytest.param(lambda session, user: revoke_role(session, user, Role.REVIEWER, "fire"), id="role-revoked"),
        pytest.param(
            lambda session, user: grant_role(session, user, Role.TRACK_LEAD, "civil_air_defence"), id="role-granted"
        ),
        pytest.param(lambda session, user: set_password(session, user, "another long password"), id="password"),
        pytest.param(lambda session, user: setattr(user, "locale", "en"), id="locale"),
    ],
)
def test_a_change_to_the_user_is_forgotten_at_the_flush(
    session: Session, agency: Organization, cache: PrincipalCache, change
) -> None:
    user = _user(session, agency, "fire.reviewer")
    other = _user(session, agency, "fire.reviewer2")
    grant_role(session, user, Role.TRACK_LEAD, "fire")  # so that one role can be taken away
    _cached(session, cache, user)
    kept = _cached(session, cache, other)
    change(session, user)
    session.flush()
    assert cache.user(user.id) is None
    assert cache.recall(user.id, ("tiles", 1)) is None
    assert cache.user(other.id) == kept  # nobody else's entries go
    assert cache.recall(other.id, ("tiles", 1)) == "dzi-key"


def test_a_revoked_token_is_forgotten(session: Session, agency: Organization, cache: PrincipalCache) -> None:
    user = _user(session, agency, "fire.reviewer")
    token = create_api_token(session, user.id, "脚本")
    digest = token_digest_of(token)
    assert digest is not None
    found = principal_for_token(session, token)
    assert found is not None
    cache.put_token(digest, found, cache.generation)
    row = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    revoke_api_token(session, row.id)
    assert cache.token(digest) is None
    assert principal_for_token(session, token) is None


def test_an_organisation_change_forgets_everyone(session: Session, agency: Organization, cache: PrincipalCache) -> None:
    user = _user(session, agency, "fire.reviewer")
    _cached(session, cache, user)
    agency.name = "江城市建设工程施工图审查中心"
    session.flush()
    assert cache.user(user.id) is None
    assert len(cache) == 0


def test_a_change_made_elsewhere_is_seen_within_the_lifetime(
    session: Session, agency: Organization, cache: PrincipalCache, clock: Clock
) -> None:
    # A statement that bypasses this process's ORM is what another web process or the command line looks like.
    user = _user(session, agency, "fire.reviewer")
    _cached(session, cache, user)
    session.execute(text("UPDATE users SET is_active = false WHERE id = :id"), {"id": user.id})
    assert principal_for_user(session, user.id) is None
    assert cache.user(user.id) is not None  # still within the lifetime
    clock.now += TTL
    assert cache.user(user.id) is None


def test_principal_lookups_are_one_query(session: Session, agency: Organization) -> None:
    from sqlalchemy import event

    user = _user(session, agency, "fire.reviewer")
    grant_role(session, user, Role.TRACK_LEAD, "fire")
    token = create_api_token(session, user.id, "脚本")
    principal_for_token(session, token)  # the first use writes last_used_at
    session.flush()
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", count)
    try:
        by_user = principal_for_user(session, user.id)
        by_token = principal_for_token(session, token)
    finally:
        event.remove(connection, "before_cursor_execute", count)
    assert by_user == by_token
    assert by_user is not None
    assert by_user.roles == {(Role.REVIEWER, "fire"), (Role.TRACK_LEAD, "fire")}
    assert len(statements) == 2, statements
