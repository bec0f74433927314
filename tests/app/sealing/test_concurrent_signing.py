"""Two signers of the same department press 签章 at once on PostgreSQL: exactly one seal is applied."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from app.errors import Conflict
from app.identity.principal import Principal
from app.sealing import compose
from app.sealing.signing import sign_result
from app.settings import Settings
from storage.blobstore.local import LocalBlobStore
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Organization, ReviewResult
from tests.app.sealing.conftest import Case, add_signer, build_case
from tests.conftest import scratch_postgres
from tests.support.pki import SigningPki

pytestmark = pytest.mark.postgres


@pytest.fixture
def committed_engine() -> Iterator[Engine]:
    """A database of its own: the two signers must really commit, on separate connections."""
    with scratch_postgres("liantu_seal") as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


def test_two_signers_at_once_one_wins_the_other_gets_a_conflict(
    committed_engine: Engine, store: LocalBlobStore, settings: Settings, test_pki: SigningPki, tmp_path: Path
) -> None:
    factory = sessionmaker(committed_engine, expire_on_commit=False)
    with factory() as session, session.begin():
        case: Case = build_case(session, store, settings, test_pki)
        fire = session.get(Organization, case.departments["fire"])
        assert fire is not None
        second: Principal = add_signer(session, fire, "fire", "fire.signer2", "第二签章人")
    with factory() as session, session.begin():
        compose.compose_result(session, store, settings, case.submission_id)

    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def press(who: Principal) -> None:
        start.wait(timeout=30)
        try:
            outcomes[who.username] = sign_result(factory, store, settings, who, case.submission_id)
        except Conflict as exc:
            outcomes[who.username] = exc

    threads = [threading.Thread(target=press, args=(who,)) for who in (case.signers["fire"], second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)

    kinds = sorted(type(value).__name__ for value in outcomes.values())
    assert kinds == ["Conflict", "ReviewResult"]
    with factory() as session:
        result = session.scalar(select(ReviewResult).where(ReviewResult.submission_id == case.submission_id))
        assert result is not None
        assert [row.signed_at is not None for row in result.signatures] == [True, False, False]
        winner = next(name for name, value in outcomes.items() if isinstance(value, ReviewResult))
        assert result.signatures[0].signer_id == (
            case.signers["fire"].user_id if winner == "fire.signer" else second.user_id
        )
        with store.open(result.object_key) as stream:
            assert hashlib.sha256(stream.read()).hexdigest() == result.sha256
    # The loser's revision (if it got as far as making one) was removed: the original and one seal remain.
    assert len(list((tmp_path / "objects").rglob("r*-*.pdf"))) == 2
