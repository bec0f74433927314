"""The supervision board (电子监察) over a year of a city's reviews, and payment callbacks per second.

    .venv/bin/python bench/bench_supervision.py [--reviews 20000] [--keep /tmp/supervision.sqlite3]

``board`` is :func:`app.supervision.board` for the whole year on a SQLite file: every concluded track
review's working days with its pauses taken out, averages, 90th percentiles, on-time rates, workloads and
the open deadlines now. Its peer, ``sql``, is the floor any such page pays: one GROUP BY that averages
calendar durations in the database (no calendar, no pauses, no percentile). ``callbacks`` is
:func:`app.fees.payments.receive_callback` end to end (HMAC, nonce row, invoice row lock, event row,
commit) against its peer ``hmac``: :func:`review.fees.verify_callback` alone with an in-memory ledger.
Each measurement runs in its own process, so that its peak RSS is its own. The board and its peer are
timed in CPU seconds of that process (steady under load, unlike wall time); the board's wall time and
SQL statement count are printed beside it. ``--keep`` saves populating (a minute or two) on later runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
YEAR = (dt.date(2026, 1, 5), dt.date(2026, 12, 18))
CALLBACKS = 300


def _populate(path: Path, reviews: int) -> None:
    from sqlalchemy.orm import sessionmaker

    from app.tracks import ensure_tracks
    from storage.db import make_engine
    from storage.migrate import upgrade
    from storage.models import (
        ClockPause,
        Organization,
        OrgKind,
        Project,
        Role,
        RoleGrant,
        Round,
        Submission,
        SubmissionState,
        TrackReview,
        TrackReviewer,
        TrackReviewState,
        User,
    )

    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    rng = random.Random(7)
    with sessionmaker(engine)() as session:
        ensure_tracks(session)
        org = Organization(name="审查中心", kind=OrgKind.REVIEW_AGENCY)
        institute = Organization(name="设计院", kind=OrgKind.DESIGN_INSTITUTE)
        session.add_all([org, institute])
        session.flush()
        people = []
        for index in range(40):
            track = ("fire", "civil_air_defence", "construction")[index % 3]
            user = User(
                organization_id=org.id,
                username=f"r{index}",
                display_name=f"审查员{index}",
                password_hash="-",
                roles=[RoleGrant(role=Role.REVIEWER, track_code=track)],
            )
            session.add(user)
            people.append(user)
        session.flush()
        span = (YEAR[1] - YEAR[0]).days
        per_project = 6  # three tracks, two rounds
        for number in range(reviews // per_project):
            project = Project(code=f"P-{number:06d}", name=f"项目{number}", organization_id=institute.id)
            submission = Submission(state=SubmissionState.PASSED)
            project.submissions.append(submission)
            session.add(project)
            session.flush()
            start = dt.datetime.combine(YEAR[0] + dt.timedelta(days=rng.randrange(span - 60)), dt.time(10), SHANGHAI)
            for round_number in (1, 2):
                round_ = Round(submission_id=submission.id, number=round_number)
                session.add(round_)
                session.flush()
                for track_index, track in enumerate(("fire", "civil_air_defence", "construction")):
                    concluded = start + dt.timedelta(days=rng.randrange(5, 25), hours=rng.randrange(6))
                    review = TrackReview(
                        round_id=round_.id,
                        track_code=track,
                        state=TrackReviewState.PASSED,
                        started_at=start,
                        concluded_at=concluded,
                    )
                    session.add(review)
                    session.flush()
                    session.add(
                        TrackReviewer(track_review_id=review.id, user_id=people[track_index + 3 * rng.randrange(13)].id)
                    )
                if round_number == 1:
                    paused = start + dt.timedelta(days=30)
                    session.add(
                        ClockPause(
                            submission_id=submission.id,
                            started_at=paused,
                            ended_at=paused + dt.timedelta(days=7),
                            reason="revising",
                        )
                    )
                    start = paused + dt.timedelta(days=7)
            if number % 200 == 0:
                session.commit()
        session.commit()
    engine.dispose()


def _measure_board(path: Path) -> str:
    from sqlalchemy import event
    from sqlalchemy.orm import sessionmaker

    from app import supervision
    from app.identity.principal import Principal
    from storage.db import make_engine
    from storage.models import OrgKind, Role

    bureau = Principal(1, "bureau", "林晓", 1, OrgKind.BUREAU, "住建局", frozenset({(Role.BUREAU_OFFICER, None)}))
    engine = make_engine(f"sqlite:///{path}")
    period = supervision.Period(dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    now = dt.datetime(2026, 12, 31, 12, tzinfo=dt.UTC)
    with sessionmaker(engine)() as session:
        supervision.board(session, bureau, supervision.Period(period.first, period.first), now=now)  # imports, caches
        statements = []
        event.listen(engine, "before_cursor_execute", lambda *_: statements.append(1))
        started, cpu = time.perf_counter(), time.process_time()
        board = supervision.board(session, bureau, period, now=now)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"board: {elapsed:.3f} s wall, {cpu:.3f} s CPU, {len(statements)} SQL statements", file=sys.stderr)
    return f"{cpu:.3f} {len(board.records)}"


def _measure_sql(path: Path) -> str:
    from sqlalchemy import text

    from storage.db import make_engine

    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.execute(text("SELECT count(*) FROM track_reviews")).all()  # connection, page cache
        started = time.process_time()
        rows = conn.execute(
            text(
                "SELECT track_code, count(*), avg(julianday(concluded_at) - julianday(started_at)) FROM track_reviews"
                " WHERE concluded_at IS NOT NULL GROUP BY track_code"
            )
        ).all()
        elapsed = time.process_time() - started
    return f"{elapsed:.3f} {sum(row[1] for row in rows)}"


def _measure_callbacks(path: Path) -> str:
    from sqlalchemy import select
    from sqlalchemy.orm import sessionmaker

    from app import fees
    from app.fees.payments import fake_order, receive_callback
    from app.settings import load_settings
    from review.fees.fake_gateway import FakeGateway
    from storage.db import make_engine
    from storage.models import Round, Submission, SubmissionState, TrackReview

    settings = load_settings({"LIANTU_DATA_DIR": str(path.parent), "LIANTU_SECRET_KEY": "k" * 40})
    engine = make_engine(f"sqlite:///{path}")
    sessions = sessionmaker(engine, expire_on_commit=False)
    orders = []
    with sessions() as session:
        project_ids = list(session.scalars(select(Submission.project_id).limit(1)))
        for _ in range(CALLBACKS):
            submission = Submission(project_id=project_ids[0], state=SubmissionState.ACCEPTED)
            session.add(submission)
            session.flush()
            round_ = Round(submission_id=submission.id, number=1)
            session.add(round_)
            session.flush()
            session.add(TrackReview(round_id=round_.id, track_code="fire"))
            session.flush()
            session.get_one(Submission, submission.id).project.gross_floor_area_m2 = 5000.0
            fees.issue_invoice(session, submission.id)
            orders.append(fake_order(session, submission.id, settings))
        session.commit()
    gateway = FakeGateway(settings.effective_payment_secret)
    now = dt.datetime.now(dt.UTC)
    signed = [gateway.callback(order, at=now) for order in orders]
    started = time.perf_counter()
    for callback in signed:
        receive_callback(sessions, settings, callback.headers, callback.body, now=now)
    elapsed = time.perf_counter() - started
    return f"{elapsed:.3f} {len(signed)}"


def _measure_hmac(path: Path) -> str:
    from review.fees import InMemoryNonceLedger, PayableInvoice, verify_callback
    from review.fees.fake_gateway import FakeGateway, PaymentOrder

    secret = b"k" * 40
    gateway = FakeGateway(secret)
    now = dt.datetime.now(dt.UTC)
    numbers = [f"LT20260302-{n:06d}-0" for n in range(1, CALLBACKS + 1)]
    signed = [gateway.callback(PaymentOrder("o", number, 500_000, ""), at=now) for number in numbers]
    ledger = InMemoryNonceLedger()
    started = time.perf_counter()
    for callback in signed:
        verify_callback(
            callback.headers,
            callback.body,
            secret,
            now=now,
            seen_nonces=ledger,
            invoices=lambda number: PayableInvoice(number, 500_000),
        )
    elapsed = time.perf_counter() - started
    return f"{elapsed:.3f} {len(signed)}"


MODES = {"board": _measure_board, "sql": _measure_sql, "callbacks": _measure_callbacks, "hmac": _measure_hmac}


def _child(mode: str, path: Path) -> tuple[float, int, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--db", str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(f"{mode} failed:\n{done.stderr}")
    if done.stderr:
        print("  " + done.stderr.strip())
    output = done.stdout.split()
    return float(output[0]), int(output[1]), float(output[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reviews", type=int, default=20_000)
    parser.add_argument("--child")
    parser.add_argument("--db", type=Path)
    parser.add_argument("--keep", type=Path, help="populate this file once and start each run from a copy of it")
    args = parser.parse_args()
    if args.child:
        result = MODES[args.child](args.db)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{result} {peak_mb:.0f}")
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "liantu.sqlite3"
        if args.keep is None or not args.keep.exists():
            started = time.perf_counter()
            _populate(path, args.reviews)
            print(f"populated {args.reviews} track reviews in {time.perf_counter() - started:.1f} s")
            if args.keep is not None:
                shutil.copyfile(path, args.keep)
        else:
            shutil.copyfile(args.keep, path)
            print(f"copied {args.keep} (--reviews is ignored)")
        board = min((_child("board", path) for _ in range(3)), key=lambda r: r[0])
        sql = min((_child("sql", path) for _ in range(3)), key=lambda r: r[0])
        print(f"board: {board[0]:.3f} s CPU for {board[1]} reviews, peak RSS {board[2]:.0f} MB")
        print(f"sql:   {sql[0]:.3f} s CPU for {sql[1]} reviews, peak RSS {sql[2]:.0f} MB")
        print(f"board / sql = {board[0] / sql[0]:.1f}×")
        callbacks = _child("callbacks", path)
        hmac = _child("hmac", path)
        print(f"callbacks: {callbacks[1] / callbacks[0]:.0f}/s end to end, peak RSS {callbacks[2]:.0f} MB")
        print(f"hmac:      {hmac[1] / hmac[0]:.0f}/s verification alone, peak RSS {hmac[2]:.0f} MB")
        print(f"callbacks / hmac time = {(callbacks[0] / callbacks[1]) / (hmac[0] / hmac[1]):.0f}×")


if __name__ == "__main__":
    main()
