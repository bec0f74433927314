"""The markup and comment API at 50 concurrent reviewers, on the embedded SQLite and on PostgreSQL, side by side.

For each database a fresh data folder (and, for PostgreSQL, a fresh database) is migrated and seeded with
50 reviewers spread over the fire, civil air defence and construction tracks of one submission in review
with 10 sheets. Liantu's web server runs as ``liantu serve --workers 2`` runs it. Each reviewer is an
asyncio task with its own httpx client and session cookie (CSRF header included, as the browser sends
it) repeating what a reviewer does at the sheet: draw a markup (``POST …/markups``: half of them revision
clouds, the rest rectangles and labelled arrows), reload the sheet's markups (``GET …/markups``), write a
comment on the markup (``POST …/comments``) and reload the comments (``GET …/comments``), on a random
sheet of the submission. The server's CPU time per request is read from ``/proc``: unlike latencies, it
does not depend on what else runs on the machine.

Two loads per database, after an unmeasured warm-up (``--warm-seconds``: first requests import and compile):

- *paced*: each reviewer pauses 0.5–1.5 s between actions (a person drawing and typing): the goal is
  measured here — list p99 < 50 ms, create p99 < 100 ms;
- *flat out*: no pauses, 50 requests always in flight: the capacity of the two web processes.

After each load the rows are counted: every markup and comment answered 201 must be in the database and
nothing else (zero lost writes). Server, client and database share the machine's cores.

    .venv/bin/python bench/bench_review_api.py [--seconds 30] [--flat-seconds 10] [--reviewers 50]
    .venv/bin/python bench/bench_review_api.py --in-process 200   # SQL statements and CPU per request, no HTTP
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tile_serving import ROOT, SECRET_KEY, Server, free_port, liantu_env, wait_until_up

POSTGRES_URL = os.environ.get("LIANTU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TRACKS = ("fire", "civil_air_defence", "construction")
SHEETS = 10
MANDATORY_CLAUSE = "GB 50016-2014:3.3.1"
"""A comment on a mandatory clause (强制性条文) must cite one."""
WIDTH, HEIGHT = 2384.0, 1684.0
LIST_GOAL_MS = 50.0
CREATE_GOAL_MS = 100.0
# A fixed hash: hashing a password is slow on purpose and not what is measured.
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ"


@dataclass(frozen=True)
class Reviewer:
    user_id: int
    track: str
    csrf: str


@dataclass(frozen=True)
class Plan:
    revision_ids: tuple[int, ...]
    reviewers: tuple[Reviewer, ...]


def prepare(data_dir: Path, database_url: str, reviewers: int) -> Plan:
    """Migrate and seed; one submission in review on three tracks, ``SHEETS`` sheets, ``reviewers`` reviewers."""
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import select

    from app.identity.accounts import check_new_user, insert_user
    from app.platform import Platform
    from app.seed import DESIGN_INSTITUTE, REVIEW_AGENCY, seed_demo
    from app.settings import load_settings
    from storage.db import transaction
    from storage.migrate import upgrade
    from storage.models import (
        DrawingFile,
        Organization,
        Project,
        Role,
        Round,
        Sheet,
        SheetRevision,
        Submission,
        SubmissionState,
        TrackReview,
        TrackReviewState,
    )

    platform = Platform(load_settings(liantu_env(data_dir, database_url)))
    upgrade(platform.engine)
    with transaction(platform.sessions) as db:
        seed_demo(db)
    with transaction(platform.sessions) as db:
        institute = db.scalars(select(Organization).where(Organization.name == DESIGN_INSTITUTE)).one()
        agency = db.scalars(select(Organization).where(Organization.name == REVIEW_AGENCY)).one()
        people = []
        for index in range(reviewers):
            track = TRACKS[index % len(TRACKS)]
            new = check_new_user(db, agency, f"bench.r{index:02d}", f"审查员{index:02d}", [(Role.REVIEWER, track)])
            people.append(Reviewer(insert_user(db, agency, new, PASSWORD_HASH).id, track, secrets.token_urlsafe(32)))
        project = Project(organization_id=institute.id, code="BENCH-API", name="基准测试项目")
        db.add(project)
        db.flush()
        submission = Submission(project_id=project.id, state=SubmissionState.IN_REVIEW)
        db.add(submission)
        db.flush()
        round_ = Round(submission_id=submission.id, number=1)
        round_.track_reviews = [TrackReview(track_code=t, state=TrackReviewState.IN_REVIEW) for t in TRACKS]
        db.add(round_)
        drawing = DrawingFile(
            submission_id=submission.id,
            sha256="0" * 64,
            size=1,
            original_name="建施.pdf",
            media_type="application/pdf",
            object_key="originals/bench",
        )
        db.add(drawing)
        db.flush()
        revisions = []
        for number in range(1, SHEETS + 1):
            sheet = Sheet(submission_id=submission.id, number=f"建施-{number:02d}", title=f"{number}层平面图")
            db.add(sheet)
            db.flush()
            revision = SheetRevision(
                sheet_id=sheet.id,
                round_id=round_.id,
                drawing_file_id=drawing.id,
                source_index=number - 1,
                width_pt=WIDTH,
                height_pt=HEIGHT,
                status="ready",
            )
            db.add(revision)
            db.flush()
            revisions.append(revision.id)
    platform.close()
    return Plan(tuple(revisions), tuple(people))


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    statuses: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """Unexpected answers by operation and status (``create markup 503``)."""
    markups: int = 0
    comments: int = 0


def _markup(rng: random.Random) -> dict[str, object]:
    """A revision cloud, a rectangle or an arrow with a label, somewhere on the sheet (clouds the most)."""
    x, y = rng.uniform(50, WIDTH - 300), rng.uniform(50, HEIGHT - 300)
    w, h = rng.uniform(20, 250), rng.uniform(20, 250)
    kind = rng.choice(["cloud", "cloud", "rectangle", "arrow"])
    points = {
        "cloud": [[x, y], [x + w, y], [x + w, y + h], [x, y + h]],
        "rectangle": [[x, y], [x + w, y + h]],
        "arrow": [[x, y], [x + w, y + h]],
    }[kind]
    return {
        "kind": kind,
        "points": points,
        "text": "见大样" if kind == "arrow" else "",
        "box": None,
        "colour": "#d32f2f",
        "stroke_width": 1.5,
        "opacity": 1.0,
        "cloud_arc": 12.0 if kind == "cloud" else 0.0,
    }


def _client(base: str, reviewer: Reviewer) -> Any:
    import httpx

    from app.web.sessions import COOKIE_NAME, encode_session

    cookie = encode_session(SECRET_KEY, {"uid": reviewer.user_id, "csrf": reviewer.csrf, "iat": int(time.time())})
    headers = {"Cookie": f"{COOKIE_NAME}={cookie}", "X-CSRF-Token": reviewer.csrf}
    return httpx.AsyncClient(base_url=base, headers=headers, timeout=60)


async def _reviewer(
    client: Any, plan: Plan, reviewer: Reviewer, *, until: float, pause: tuple[float, float], tally: Tally, seed: int
) -> None:
    import httpx

    rng = random.Random(seed)

    async def call(op: str, method: str, url: str, expected: int, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            answer = await client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            tally.failures[op] += 1
            tally.statuses[f"{op} {exc.__class__.__name__}"] += 1
            return None
        tally.latencies[op].append((time.perf_counter() - started) * 1000)
        if answer.status_code != expected:
            tally.failures[op] += 1
            code = (
                answer.json().get("error", {}).get("code", "")
                if answer.headers.get("content-type", "").startswith("application/json")
                else ""
            )
            tally.statuses[f"{op} {answer.status_code} {code}".strip()] += 1
            return None
        return answer

    async def think() -> None:
        if pause[1] > 0:
            await asyncio.sleep(rng.uniform(*pause))

    # Reviewers arrive spread over the first pause, not all in the same millisecond.
    await asyncio.sleep(rng.uniform(0, pause[1]))
    while time.monotonic() < until:
        revision = rng.choice(plan.revision_ids)
        api = f"/api/v1/sheet-revisions/{revision}"
        created = await call(
            "create markup", "POST", f"{api}/markups", 201, json={"track": reviewer.track, "markup": _markup(rng)}
        )
        if created is not None:
            tally.markups += 1
        await think()
        await call("list markups", "GET", f"{api}/markups", 200)
        await think()
        severity = rng.choice(["mandatory", "general", "suggestion"])
        body = {
            "track": reviewer.track,
            "severity": severity,
            "text": f"疏散宽度不足，请复核（{rng.randrange(10**6)}）",
            "clause_ids": [MANDATORY_CLAUSE] if severity == "mandatory" else [],
            "markup_ids": [created.json()["liantu"]["id"]] if created is not None else [],
        }
        if await call("create comment", "POST", f"{api}/comments", 201, json=body) is not None:
            tally.comments += 1
        await think()
        await call("list comments", "GET", f"{api}/comments", 200)
        await think()


async def _load(base: str, plan: Plan, seconds: float, pause: tuple[float, float]) -> Tally:
    tally = Tally()
    # Clients (and their TLS contexts) are built before the clock starts.
    clients = [_client(base, r) for r in plan.reviewers]
    # The client's own full collections (a few hundred ms with 50 clients' objects) would stop every reviewer at
    # once and be counted as the server's latency: the load runs without the collector.
    gc.collect()
    gc.disable()
    try:
        until = time.monotonic() + seconds
        await asyncio.gather(
            *(
                _reviewer(client, plan, r, until=until, pause=pause, tally=tally, seed=seed)
                for seed, (client, r) in enumerate(zip(clients, plan.reviewers, strict=True))
            )
        )
    finally:
        gc.enable()
        for client in clients:
            await client.aclose()
    return tally


def _count(data_dir: Path, database_url: str) -> tuple[int, int]:
    from sqlalchemy import func, select

    from app.platform import Platform
    from app.settings import load_settings
    from storage.models import Comment, Markup

    platform = Platform(load_settings(liantu_env(data_dir, database_url)))
    try:
        with platform.sessions() as db:
            markups = db.scalar(select(func.count()).select_from(Markup)) or 0
            comments = db.scalar(select(func.count()).select_from(Comment)) or 0
    finally:
        platform.close()
    return markups, comments


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass
class Outcome:
    label: str
    seconds: float
    tally: Tally
    rows: tuple[int, int]
    """Markups and comments in the database after the load (cumulative over the loads of one database)."""
    expected: tuple[int, int]
    peak_rss_mb: float
    cpu_ms: float
    """Server CPU time per request (its processes, user + system), whatever else ran on the machine."""


def _report(outcomes: list[Outcome]) -> None:
    print(
        f"\n{'database / load':<26} {'operation':<15} {'count':>6} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'failed':>6}"
    )
    for outcome in outcomes:
        for op in ("create markup", "list markups", "create comment", "list comments"):
            values = outcome.tally.latencies[op]
            print(
                f"{outcome.label:<26} {op:<15} {len(values):>6} {len(values) / outcome.seconds:>6.1f} "
                f"{_percentile(values, 0.50):>7.1f} {_percentile(values, 0.99):>7.1f} "
                f"{max(values, default=float('nan')):>7.1f} {outcome.tally.failures[op]:>6}"
            )
        lost = (outcome.expected[0] - outcome.rows[0], outcome.expected[1] - outcome.rows[1])
        print(
            f"{outcome.label:<26} rows: {outcome.rows[0]} markups / {outcome.rows[1]} comments, answered 201: "
            f"{outcome.expected[0]} / {outcome.expected[1]} → lost or extra: {lost[0]} / {lost[1]}; "
            f"server CPU {outcome.cpu_ms:.1f} ms/request, peak RSS {outcome.peak_rss_mb:.0f} MB"
        )
        if outcome.tally.statuses:
            print(f"{outcome.label:<26} unexpected answers: {dict(sorted(outcome.tally.statuses.items()))}")
    print()
    for outcome in outcomes:
        if not outcome.label.endswith("paced"):
            continue
        lat = outcome.tally.latencies
        list_p99 = max(_percentile(lat["list markups"], 0.99), _percentile(lat["list comments"], 0.99))
        create_p99 = max(_percentile(lat["create markup"], 0.99), _percentile(lat["create comment"], 0.99))
        ok = (
            list_p99 < LIST_GOAL_MS
            and create_p99 < CREATE_GOAL_MS
            and outcome.rows == outcome.expected
            and not any(outcome.tally.failures.values())
        )
        print(
            f"{outcome.label}: list p99 {list_p99:.1f} ms (goal < {LIST_GOAL_MS:.0f}), create p99 {create_p99:.1f} ms "
            f"(goal < {CREATE_GOAL_MS:.0f}), lost writes {outcome.expected[0] - outcome.rows[0]}: "
            f"{'met' if ok else 'NOT met'}"
        )
    paced = {o.label.split()[0]: o for o in outcomes if o.label.endswith("paced")}
    if {"SQLite", "PostgreSQL"} <= paced.keys():
        s, p = paced["SQLite"].tally.latencies, paced["PostgreSQL"].tally.latencies
        for op in ("list markups", "create markup"):
            print(f"{op} p99 SQLite / PostgreSQL: {_percentile(s[op], 0.99) / _percentile(p[op], 0.99):.2f}")


def _postgres_database() -> tuple[str, object]:
    from sqlalchemy import create_engine, text

    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"liantu_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return admin.url.set(database=name).render_as_string(hide_password=False), (admin, name)


def _drop(handle: object) -> None:
    from sqlalchemy import text

    admin, name = handle  # type: ignore[misc]
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def start_liantu(env: dict[str, str], start_seconds: float, workers: int = 2) -> Server:
    """``liantu serve`` with ``workers`` processes; on a busy machine importing the app alone can take a minute."""
    import subprocess

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT,
        env={**env, "LIANTU_HOST": "127.0.0.1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until_up(f"http://127.0.0.1:{port}/healthz", process, deadline_s=start_seconds)
    return Server(process, port)


def run_database(label: str, work: Path, database_url: str, args: argparse.Namespace) -> list[Outcome]:
    data_dir = work / label
    plan = prepare(data_dir, database_url, args.reviewers)
    server = start_liantu(liantu_env(data_dir, database_url), args.start_seconds)
    outcomes = []
    try:
        base = f"http://127.0.0.1:{server.port}"
        # Warm-up, not measured: each web process imports shapely, compiles its statements and reads its principals
        # on its first requests; without it the first wave of 50 queues behind that and fills the percentiles.
        warm = asyncio.run(_load(base, plan, args.warm_seconds, (0, 0)))
        created = (warm.markups, warm.comments)
        for load, seconds, pause in (("paced", args.seconds, (0.5, 1.5)), ("flat out", args.flat_seconds, (0, 0))):
            cpu_before = server.cpu_seconds()
            tally = asyncio.run(_load(base, plan, seconds, pause))
            requests = sum(len(v) for v in tally.latencies.values())
            cpu_ms = (server.cpu_seconds() - cpu_before) * 1000 / max(1, requests)
            created = (created[0] + tally.markups, created[1] + tally.comments)
            rows = _count(data_dir, database_url)
            outcomes.append(Outcome(f"{label} {load}", seconds, tally, rows, created, server.peak_rss_mb(), cpu_ms))
    finally:
        server.stop()
    return outcomes


async def _in_process_call(
    client: Any, api: str, reviewer: Reviewer, rng: random.Random, tags: dict[str, str], *, op: str
) -> Any:
    """One call of :func:`in_process`; a list keeps its ETag in ``tags`` for the revalidation that follows."""
    if op == "create markup":
        return await client.post(f"{api}/markups", json={"track": reviewer.track, "markup": _markup(rng)})
    if op == "create comment":
        body = {"track": reviewer.track, "severity": "general", "text": "疏散宽度不足，请复核"}
        return await client.post(f"{api}/comments", json=body)
    what = op.split()[1]
    if op.startswith("relist"):  # the browser revalidating an unchanged list: 304
        return await client.get(f"{api}/{what}", headers={"If-None-Match": tags[what]})
    answer = await client.get(f"{api}/{what}")
    tags[what] = answer.headers["etag"]
    return answer


def in_process(requests: int, database_url: str = "") -> None:
    """The four calls, and both lists revalidated, through the ASGI app in this process, without HTTP: SQL statements
    and CPU time per request.

    Independent of the machine's load: CPU time of this process (client, app and its worker threads), after a
    warm-up, on a sheet holding ``requests`` markups (half of them clouds) by the end.
    """
    import httpx
    from sqlalchemy import event

    from app.platform import Platform
    from app.settings import load_settings
    from app.web import create_app

    with tempfile.TemporaryDirectory(prefix="liantu-bench-api-") as folder:
        handle = None
        if database_url == "postgres":
            database_url, handle = _postgres_database()
        try:
            data_dir = Path(folder) / "data"
            plan = prepare(data_dir, database_url, 3)
            platform = Platform(load_settings(liantu_env(data_dir, database_url)))
            statements: list[str] = []
            event.listen(platform.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
            reviewer = plan.reviewers[0]
            api = f"/api/v1/sheet-revisions/{plan.revision_ids[0]}"
            rng = random.Random(1)

            async def run() -> None:
                from app.web.sessions import COOKIE_NAME, encode_session

                cookie = encode_session(
                    SECRET_KEY, {"uid": reviewer.user_id, "csrf": reviewer.csrf, "iat": int(time.time())}
                )
                transport = httpx.ASGITransport(app=create_app(platform))
                headers = {"Cookie": f"{COOKIE_NAME}={cookie}", "X-CSRF-Token": reviewer.csrf}
                async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:

                    async def one(op: str) -> httpx.Response:
                        return await _in_process_call(client, api, reviewer, rng, tags, op=op)

                    tags: dict[str, str] = {}
                    ops = (
                        "create markup",
                        "list markups",
                        "create comment",
                        "list comments",
                        "relist markups",
                        "relist comments",
                    )
                    for op in ops:  # warm-up: imports, statement caches, the principal
                        assert (await one(op)).status_code in (200, 201, 304)
                    cpu: dict[str, list[float]] = {op: [] for op in ops}
                    count = dict.fromkeys(ops, 0)
                    for _ in range(requests):
                        for op in ops:
                            statements.clear()
                            started = time.process_time()
                            answer = await one(op)
                            cpu[op].append(time.process_time() - started)
                            count[op] = len(statements)
                            expected = (304,) if op.startswith("relist") else (200, 201)
                            assert answer.status_code in expected, answer.text
                    label = "PostgreSQL" if handle is not None else "SQLite"
                    for op in ops:
                        # The median resists the other jobs of a shared machine better than the mean.
                        print(
                            f"{label:<11} {op:<15} {count[op]:>3} SQL statements (the last), "
                            f"{sum(cpu[op]) * 1000 / requests:6.2f} ms CPU per request, "
                            f"median {statistics.median(cpu[op]) * 1000:6.2f} ms"
                        )

            asyncio.run(run())
            platform.close()
        finally:
            if handle is not None:
                _drop(handle)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the paced load")
    parser.add_argument("--flat-seconds", type=float, default=10.0, help="length of the load without pauses")
    parser.add_argument("--reviewers", type=int, default=50)
    parser.add_argument("--warm-seconds", type=float, default=3.0, help="unmeasured load before the measured ones")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--start-seconds", type=float, default=300.0, help="how long the server may take to start")
    parser.add_argument(
        "--in-process",
        type=int,
        metavar="N",
        help="instead of the load: N rounds of the four calls through the app in this process (SQL, CPU per request)",
    )
    args = parser.parse_args()
    if args.in_process:
        in_process(args.in_process)
        if not args.skip_postgres:
            in_process(args.in_process, "postgres")
        return
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="liantu-bench-api-") as folder:
        work = Path(folder)
        if not args.skip_sqlite:
            outcomes += run_database("SQLite", work, "", args)
        if not args.skip_postgres:
            url, handle = _postgres_database()
            try:
                outcomes += run_database("PostgreSQL", work, url, args)
            finally:
                _drop(handle)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    _report(outcomes)


if __name__ == "__main__":
    main()
