"""Upload finished → first sheet viewable, and → all sheets ready, on a real embedded worker.

The samples' 25-sheet PDF set is added through the upload use case (``app.drawings.add_original``) to a
fresh data folder; a worker is started as ``liantu run`` starts it (``python -m app worker``, embedded
broker, concurrency 2) and is ready before the upload. The clock starts when the upload's transaction has
committed (its jobs are sent then) and the database is polled every 20 ms for ``SheetRevision.status``.

Peak memory is VmHWM of the worker's main and pool processes. The reference is the raw library: one
process with PyMuPDF rendering every page at the dpi the pipeline chose for it (``page.get_pixmap``, no
tiles, nothing stored), imports done before the clock starts.

    .venv/bin/python bench/bench_intake.py [--concurrency 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "samples" / "pdf_drawings" / "pdfjs_autocad2014_farmhouse_set_25sheets.pdf"
FIRST_GOAL_SECONDS = 3.0
ALL_GOAL_SECONDS = 30.0
POLL_SECONDS = 0.02
SHEETS = 25
# A fixed hash: hashing a password is slow on purpose and not what is measured.
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ"

_RAW = """
import sys, time, pymupdf
path, dpis = sys.argv[1], [int(d) for d in sys.argv[2].split(",")]
document = pymupdf.open(path)
start = time.perf_counter()
for page, dpi in zip(document, dpis):
    page.get_pixmap(dpi=dpi)
print(time.perf_counter() - start)
"""


def _vm_hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _wait_ready(log: Path, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while " ready." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)


def _prepare(data_dir: Path, concurrency: int) -> tuple[object, object, int]:
    """A migrated database in ``data_dir`` with a designer and an empty submission."""
    for key in [k for k in os.environ if k.startswith("LIANTU_")]:
        del os.environ[key]
    os.environ.update({"LIANTU_DATA_DIR": str(data_dir), "LIANTU_WORKER_CONCURRENCY": str(concurrency)})

    # Imported after the environment is set: the platform reads its settings once.
    from app.identity.accounts import check_new_user, create_organization, insert_user
    from app.identity.principal import principal_from_user
    from app.platform import get_platform
    from app.tracks import ensure_tracks
    from storage.db import transaction
    from storage.migrate import upgrade
    from storage.models import OrgKind, Project, Role, Submission

    platform = get_platform()
    upgrade(platform.engine)
    with transaction(platform.sessions) as session:
        ensure_tracks(session)
        institute = create_organization(session, "联图测试设计院", OrgKind.DESIGN_INSTITUTE)
        new = check_new_user(session, institute, "d.li", "d.li", [(Role.DESIGNER, None)])
        designer = principal_from_user(insert_user(session, institute, new, PASSWORD_HASH))
        project = Project(organization_id=institute.id, code="JC-2026-0901", name="农舍")
        session.add(project)
        session.flush()
        submission = Submission(project_id=project.id)
        session.add(submission)
        session.flush()
        return platform, designer, submission.id


def _start_worker(log: Path) -> subprocess.Popen[bytes]:
    """``python -m app worker`` as ``liantu run`` starts it, returned once it takes tasks."""
    with log.open("wb") as handle:
        worker = subprocess.Popen(
            [sys.executable, "-m", "app", "worker", "--loglevel=INFO"],
            cwd=ROOT,
            env=dict(os.environ),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _wait_ready(log, worker)
    return worker


def _stop(worker: subprocess.Popen[bytes]) -> None:
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def _phases(platform: Any, uploaded: dt.datetime) -> dict[str, float]:
    """When the split job started and ended, and how long one render job took, from the task runs."""
    from sqlalchemy import select

    from app.intake.tasks import PROCESS_DRAWING_FILE, RENDER_SHEET_REVISION
    from storage.models import TaskRun

    def since(moment: dt.datetime | None) -> float:
        return ((moment or uploaded).replace(tzinfo=dt.UTC) - uploaded).total_seconds()

    with platform.sessions() as session:
        runs = session.scalars(select(TaskRun)).all()
    [split] = [run for run in runs if run.name == PROCESS_DRAWING_FILE]
    renders = [run for run in runs if run.name == RENDER_SHEET_REVISION and run.started_at and run.finished_at]
    durations = sorted(since(run.finished_at) - since(run.started_at) for run in renders)
    return {
        "split_start": since(split.started_at),
        "split_end": since(split.finished_at),
        "first_render_start": min(since(run.started_at) for run in renders),
        "render_median": durations[len(durations) // 2],
        "render_max": durations[-1],
        "render_sum": sum(durations),
        "last_render_end": max(since(run.finished_at) for run in renders),
        "timeline": sorted((since(run.started_at), since(run.finished_at)) for run in renders),
    }


def run_once(root: Path, concurrency: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from app.drawings import add_original
    from storage.db import transaction
    from storage.models import SheetRevision

    platform: Any
    platform, designer, submission_id = _prepare(root / "data", concurrency)
    worker = _start_worker(root / "worker.log")
    hwm: dict[int, int] = {}
    first = every = None
    try:
        with transaction(platform.sessions) as session:
            add_original(
                session,
                platform.store,
                designer,  # type: ignore[arg-type]
                submission_id,
                io.BytesIO(SAMPLE.read_bytes()),
                file_name=SAMPLE.name,
                max_bytes=platform.settings.max_upload_bytes,
            )
        uploaded = dt.datetime.now(dt.UTC)
        start = time.perf_counter()
        while every is None and time.perf_counter() < start + 600:
            with platform.sessions() as session:
                query = select(func.count()).select_from(SheetRevision).where(SheetRevision.status == "ready")
                ready = session.scalar(query) or 0
            now = time.perf_counter() - start
            if first is None and ready >= 1:
                first = now
            if ready >= SHEETS:
                every = now
            for pid in [worker.pid, *_children(worker.pid)]:
                hwm[pid] = max(hwm.get(pid, 0), _vm_hwm_kb(pid))
            time.sleep(POLL_SECONDS)
        with platform.sessions() as session:
            keys = session.scalars(select(SheetRevision.tiles_key).order_by(SheetRevision.source_index)).all()
    finally:
        _stop(worker)
    if every is None:
        raise SystemExit(f"not all sheets were ready in 600 s:\n{(root / 'worker.log').read_text()[-3000:]}")
    phases = _phases(platform, uploaded)
    platform.close()
    # The pyramid folder is named <tiler version>-<dpi>.
    dpis = [int((key or "0-300/").rsplit("/", 2)[-2].rsplit("-", 1)[-1]) for key in keys]
    main_kb = hwm.pop(worker.pid, 0)
    return {"first": first, "all": every, "main_kb": main_kb, "pool_kb": list(hwm.values()), "dpis": dpis, **phases}


def raw_pymupdf(dpis: list[int]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _RAW, str(SAMPLE), ",".join(str(d) for d in dpis)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeline", action="store_true", help="print when each render job ran")
    args = parser.parse_args()
    if not SAMPLE.exists():
        print(f"skipped: sample not found: {SAMPLE}")
        return
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="liantu-bench-intake-") as folder:
        result = run_once(Path(folder), args.concurrency)
    first, every = result["first"], result["all"]
    main_kb, pool_kb, dpis = result["main_kb"], result["pool_kb"], result["dpis"]
    raw = raw_pymupdf(dpis)
    load = os.getloadavg()
    print(f"sample: {SAMPLE.name} ({SAMPLE.stat().st_size / 1e6:.1f} MB, 25 sheets)")
    print(f"cores: {os.cpu_count()}, worker concurrency {args.concurrency}, load average {load[0]:.1f}")
    print(f"tile dpi per sheet: {sorted(set(dpis))}")
    verdict = "met" if first < FIRST_GOAL_SECONDS else "MISSED"
    print(f"upload finished → first sheet ready: {first:6.2f} s  (goal < {FIRST_GOAL_SECONDS:.0f} s: {verdict})")
    verdict = "met" if every < ALL_GOAL_SECONDS else "MISSED"
    print(f"upload finished → all 25 ready:      {every:6.2f} s  (goal < {ALL_GOAL_SECONDS:.0f} s: {verdict})")
    pool = ", ".join(f"{kb / 1024:.0f} MB" for kb in pool_kb)
    print(f"worker peak RSS (VmHWM): main process {main_kb / 1024:.0f} MB, pool processes {pool}")
    print(
        f"phases: split job {result['split_start']:.2f}–{result['split_end']:.2f} s, first render job started"
        f" {result['first_render_start']:.2f} s, one render job median {result['render_median']:.2f} s"
        f" (max {result['render_max']:.2f} s), last ended {result['last_render_end']:.2f} s; render jobs busy"
        f" {result['render_sum']:.1f} s in all = {result['render_sum'] / args.concurrency:.1f} s per pool process"
    )
    if args.timeline:
        for started, finished in result["timeline"]:
            print(f"  render job {started:6.2f} → {finished:6.2f} s")
    print(f"raw PyMuPDF, 25 pages rendered in one process: {raw:6.2f} s → all-ready / raw = {every / raw:.1f}×")


if __name__ == "__main__":
    main()
