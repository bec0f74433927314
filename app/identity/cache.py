"""A short-lived in-process cache of principals (主体缓存), so that a request need not read the user again.

Each web process keeps principals by user id (browser sessions) and by token digest (API tokens) for
``LIANTU_PRINCIPAL_CACHE_SECONDS``, together with small per-user facts that are derived from the
principal (``remember``/``recall``, e.g. "this user may read the tiles of that sheet").

A change to a user, their role grants, their tokens or any organisation is seen at once by the
process that makes it: every ORM flush and commit of such a row, in any session of the process, drops
the user's entries from every cache of the process (an organisation change drops everything). Other
processes learn of it when their entry expires, within the lifetime. A lifetime of 0 turns the cache off.

A read that started before an invalidation is never stored (the generation counter), so a request
racing with a change cannot put the old principal back for a whole lifetime.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, UOWTransaction

from app.identity.principal import Principal
from storage.models import ApiToken, Organization, RoleGrant, User

MAX_ENTRIES = 20_000
"""Beyond this many entries the expired ones are dropped, and if that is not enough, all of them."""

_PENDING = "liantu.identity.changed_users"
_EVERYONE = -1


class PrincipalCache:
    """Principals and per-user facts of one web process, each kept for ``ttl_seconds``."""

    def __init__(self, ttl_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = float(ttl_seconds)
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, int, Any]] = {}
        self._keys_of_user: dict[int, set[Hashable]] = {}
        self._generation = 0
        self._lock = threading.Lock()
        _caches.add(self)

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    @property
    def generation(self) -> int:
        """Take this before reading from the database and hand it to the ``put``/``remember`` that follows."""
        return self._generation

    # -- principals ------------------------------------------------------------------------------

    def user(self, user_id: int) -> Principal | None:
        return self._get(("user", user_id))  # type: ignore[no-any-return]

    def token(self, digest: str) -> Principal | None:
        return self._get(("token", digest))  # type: ignore[no-any-return]

    def put_user(self, principal: Principal, generation: int) -> None:
        self._put(("user", principal.user_id), principal.user_id, principal, generation)

    def put_token(self, digest: str, principal: Principal, generation: int) -> None:
        self._put(("token", digest), principal.user_id, principal, generation)

    # -- facts about a user ----------------------------------------------------------------------

    def recall(self, user_id: int, key: Hashable) -> Any:
        """What was remembered for ``user_id`` under ``key`` and has not expired, or None."""
        return self._get(("fact", user_id, key))

    def remember(self, user_id: int, key: Hashable, value: object, generation: int) -> None:
        """Keep a fact derived from the user's principal; it goes when the user's principal does."""
        self._put(("fact", user_id, key), user_id, value, generation)

    # -- invalidation ----------------------------------------------------------------------------

    def forget_users(self, user_ids: Iterable[int]) -> None:
        with self._lock:
            self._generation += 1
            for user_id in user_ids:
                if user_id == _EVERYONE:
                    self._entries.clear()
                    self._keys_of_user.clear()
                    return
                for key in self._keys_of_user.pop(user_id, ()):
                    self._entries.pop(key, None)

    def clear(self) -> None:
        self.forget_users([_EVERYONE])

    def __len__(self) -> int:
        return len(self._entries)

    # -- inside ----------------------------------------------------------------------------------

    def _get(self, key: Hashable) -> Any:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, _, value = found
        if self.clock() >= expires:
            return None
        return value

    def _put(self, key: Hashable, user_id: int, value: object, generation: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            if generation != self._generation:
                return  # something changed while the value was being read: it may be stale already
            now = self.clock()
            if len(self._entries) >= MAX_ENTRIES:
                self._drop_expired(now)
            self._entries[key] = (now + self.ttl, user_id, value)
            self._keys_of_user.setdefault(user_id, set()).add(key)

    def _drop_expired(self, now: float) -> None:
        expired = [key for key, (expires, _, _) in self._entries.items() if expires <= now]
        if len(self._entries) - len(expired) >= MAX_ENTRIES:
            self._entries.clear()
            self._keys_of_user.clear()
            return
        for key in expired:
            _, user_id, _ = self._entries.pop(key)
            keys = self._keys_of_user.get(user_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._keys_of_user[user_id]


_caches: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()


def forget_users(user_ids: Iterable[int]) -> None:
    """Drop these users' entries from every cache of this process."""
    ids = set(user_ids)
    if ids:
        for cache in list(_caches):
            cache.forget_users(ids)


def _changed_users(session: Session) -> set[int]:
    changed: set[int] = set()
    for row in (*session.new, *session.dirty, *session.deleted):
        if isinstance(row, User):
            changed.add(row.id if row.id is not None else _EVERYONE)
        elif isinstance(row, RoleGrant | ApiToken):
            # A grant taken from a user's list may have lost its user_id already: then forget everyone.
            changed.add(row.user_id if row.user_id is not None else _EVERYONE)
        elif isinstance(row, Organization):
            changed.add(_EVERYONE)
    return changed


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    changed = _changed_users(session)
    if changed:
        # Forget now (this session's own later reads) and again at the commit (everybody else's).
        forget_users(changed)
        session.info.setdefault(_PENDING, set()).update(changed)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    changed = session.info.pop(_PENDING, None)
    if changed:
        forget_users(changed)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: object) -> None:
    # A rolled-back change changed nothing, but forgetting was harmless; only the bookkeeping goes.
    if not session.in_transaction():
        session.info.pop(_PENDING, None)
